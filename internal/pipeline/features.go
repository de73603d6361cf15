package pipeline

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/natssl/natssl/augment"
	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/probe"
	"github.com/natssl/natssl/trainer"
)

// suite is a NeWT suite with its images, as an evaluation and the probe benchmark read it.
type suite struct {
	*probe.Suite
	images *probe.Images
}

// loadSuite validates the labels CSV, then reads the images it names. Missing images are an
// error unless skipMissing, in which case the suite goes on without them (with a notice).
func loadSuite(ctx context.Context, csvPath, imagesPath string, skipMissing bool, obs Observer) (*suite, error) {
	s, err := probe.LoadSuite(csvPath)
	if err != nil {
		return nil, err
	}
	images, err := probe.ReadImages(ctx, imagesPath, s.IDs)
	var missing *probe.MissingError
	if errors.As(err, &missing) && skipMissing {
		drop := make(map[string]bool, len(missing.IDs))
		for _, id := range missing.IDs {
			drop[id] = true
		}
		obs.Notice(fmt.Sprintf("eval: going on without %d missing images (first: %s)", len(missing.IDs), missing.IDs[0]))
		s, err = s.Without(drop)
	}
	if err != nil {
		return nil, err
	}
	return &suite{Suite: s, images: images}, nil
}

// suitePaths are the suite's labels CSV and images: the ones named, else the config's for
// suite (newt: eval.newt_csv and eval.images; val: eval.val_csv and eval.val_images).
func suitePaths(cfg *configs.Config, suite, csv, images string) (string, string) {
	cfgCSV, cfgImages := cfg.Eval.NewtCSV, cfg.Eval.Images
	if suite == experiments.SuiteValidation {
		cfgCSV, cfgImages = cfg.Eval.ValCSV, cfg.Eval.ValImagesPath()
	}
	if csv == "" {
		csv = cfgCSV
	}
	if images == "" {
		images = cfgImages
	}
	return csv, images
}

// extractFeatures turns the suite's images into features at eval.image_size on workers
// goroutines (0: every core), each with an encoder clone and an augment worker of its own.
func extractFeatures(ctx context.Context, cfg *configs.Config, enc *trainer.Encoder, s *suite, workers int, obs Observer) (*probe.Features, error) {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	size := cfg.Eval.ImageSize
	pipe, err := augment.New(cfg.Augment, size)
	if err != nil {
		return nil, err
	}
	ws := make([]probe.Worker, workers)
	for i := range ws {
		w := pipe.NewWorker()
		defer w.Close()
		ei := enc
		if i > 0 {
			if ei, err = enc.Clone(); err != nil {
				return nil, err
			}
		}
		ws[i] = probe.Worker{Encoder: ei, Preprocessor: w}
	}
	start := time.Now()
	return probe.Extract(ctx, s.IDs, s.images, probe.ExtractOptions{ImageSize: size, Workers: ws,
		Progress: func(done, total int) {
			obs.Progress(Progress{Phase: "features", Done: done, Total: total, Elapsed: time.Since(start)})
		}})
}
