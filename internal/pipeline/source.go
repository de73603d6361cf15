package pipeline

import (
	"context"
	"fmt"
	"runtime"
	"strings"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments/metric"
	"github.com/natssl/natssl/loader"
	"github.com/natssl/natssl/trainer"
)

// trainData is the loader of a training run, seen by the trainer as its Source.
type trainData struct {
	src   loader.Source
	l     *loader.Loader
	total int64 // steps of the schedule: train.steps, or train.epochs resolved from the data
	obs   Observer
	named int // skipped samples already named in a notice
}

var (
	_ trainer.Source         = (*trainData)(nil)
	_ trainer.MetricsSource  = (*trainData)(nil)
	_ trainer.PositionMerger = (*trainData)(nil)
)

// openData opens cfg's data at the resumed position and resolves the schedule's length. Over
// ranks (rk), this process reads the share of its replicas. Skipped samples are named to obs.
func openData(ctx context.Context, cfg *configs.Config, resume *trainer.Checkpoint, rk *ranks, obs Observer) (*trainData, error) {
	var start loader.Position
	if resume != nil {
		start = loader.Position(resume.Header.Position)
	}
	// One process: its replicas are the world, each reading its own share of the data into
	// its own part of every batch.
	opt := loader.Options{
		Seed: cfg.Run.Seed, ImageSize: cfg.Data.ImageSize, BatchSize: cfg.Data.BatchSize,
		Workers: cfg.Data.Workers, ShuffleBuffer: cfg.Data.ShuffleBuffer,
		Replicas: cfg.Replicas(), Epochs: cfg.Train.Epochs, Start: start, Augment: cfg.Augment,
	}
	if rk != nil {
		// Over ranks: rank r's replicas are the world's r·R ... r·R+R−1; the ranks' loaders
		// vote at every batch on whether the epoch has another, so that all end it together;
		// the ranks on a machine share its cores.
		opt.World, opt.Replica = rk.Size()*cfg.Replicas(), rk.Rank()*cfg.Replicas()
		if opt.BatchSize%opt.World != 0 {
			return nil, refuse("train: data.batch_size %d does not divide over the world's %d replicas (%d ranks × %d devices)", cfg.Data.BatchSize, opt.World, rk.Size(), cfg.Replicas())
		}
		vote, err := rk.NewVote()
		if err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		opt.Agree = vote.Any
		if opt.Workers == 0 {
			opt.Workers = max(1, runtime.NumCPU()/rk.LocalSize())
		}
	}
	src, err := loader.Open(ctx, cfg.Data)
	if err != nil {
		return nil, err
	}
	l, err := loader.New(ctx, src, opt)
	if err != nil {
		src.Close()
		return nil, err
	}
	d := &trainData{src: src, l: l, total: int64(cfg.Train.Steps), obs: orDiscard(obs)}
	if cfg.Train.Epochs == 0 && cfg.Method.Name != "moco" {
		return d, nil
	}
	n, err := l.Len(ctx)
	if err != nil {
		d.Close()
		return nil, err
	}
	if cfg.Train.Epochs > 0 {
		d.total = n / int64(cfg.Data.BatchSize) * int64(cfg.Train.Epochs)
		if d.total == 0 {
			d.Close()
			return nil, refuse("train: %d images per epoch make no full batch of data.batch_size %d", n, cfg.Data.BatchSize)
		}
	}
	if q := int64(cfg.Method.QueueSize); cfg.Method.Name == "moco" && q > n {
		// A queue longer than an epoch holds keys of the same images twice over: negatives
		// that are the query's own image.
		d.Close()
		b := int64(cfg.Data.BatchSize)
		return nil, refuse("train: method.queue_size %d holds more keys than the data has images (%d): set it to at most %d (a multiple of data.batch_size %d)", q, n, n/b*b, b)
	}
	return d, nil
}

func (d *trainData) Next(ctx context.Context) (*trainer.Batch, error) {
	b, err := d.l.Next(ctx)
	d.nameSkipped()
	if err != nil {
		return nil, err
	}
	return &trainer.Batch{N: b.N, Size: b.Size, Epoch: b.Epoch, Views: b.Views, Release: func() { d.l.Release(b) }}, nil
}

func (d *trainData) Position() trainer.Position { return trainer.Position(d.l.Position()) }

// MergePosition is the position of a world whose processes' loaders are at p and q.
func (d *trainData) MergePosition(p, q trainer.Position) trainer.Position {
	return trainer.Position(loader.Position(p).Merge(loader.Position(q)))
}

// nameSkipped tells the observer of the samples skipped since the last batch: the first
// loader.MaxSkipExamples of each reason by name, the others in the skipped_<reason> metrics.
func (d *trainData) nameSkipped() {
	ex := d.l.Stats().SkippedExamples
	for ; d.named < len(ex); d.named++ {
		reason, where, _ := strings.Cut(ex[d.named], ": ")
		msg := fmt.Sprintf("skipped %s: %s", where, reason)
		if n := countPrefix(ex[:d.named+1], reason+": "); n == loader.MaxSkipExamples {
			msg += fmt.Sprintf(" (further %s samples are counted in the metric %s, not named)", reason, metric.SkippedFor(reason))
		}
		d.obs.Notice(msg)
	}
}

func countPrefix(xs []string, prefix string) int {
	n := 0
	for _, x := range xs {
		if strings.HasPrefix(x, prefix) {
			n++
		}
	}
	return n
}

// Metrics are the loader's counters, logged with the training metrics.
func (d *trainData) Metrics() map[string]float64 {
	st := d.l.Stats()
	m := map[string]float64{metric.LoaderImagesPerS: st.ImagesPerS, metric.Skipped: float64(st.SkippedTotal())}
	for reason, n := range st.Skipped {
		m[metric.SkippedFor(reason)] = float64(n)
	}
	return m
}

// Close stops the loader and closes the source.
func (d *trainData) Close() {
	d.l.Close()
	d.src.Close()
}
