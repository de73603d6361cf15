package pipeline

import (
	"context"
	"runtime"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/mpi"
	"github.com/natssl/natssl/probe"
	"github.com/natssl/natssl/trainer"
)

// BenchTrainOptions configure BenchTrain.
type BenchTrainOptions struct {
	Replicas int // replicas to measure (per rank); 0: 1 and the config's device count (at least 2)
	Warmup   int // steps before timing
	Steps    int // timed steps; the median is reported
	// World is the MPI job this process is a rank of: every rank calls BenchTrain, and the
	// steps include the collectives across ranks. nil, or a world of one: this process.
	World *mpi.World
}

// BenchTrain times training steps of cfg's model and batch on random images (the loader is
// not involved), for each replica count asked for. Each result carries the sgemm GFLOP/s of
// the same BLAS measured in the same run: the ceiling its GFLOP/s are read against. Over
// ranks it measures one replica count (--replicas, or the config's device count) on every
// rank, the global batch shared by all.
func BenchTrain(ctx context.Context, cfg *configs.Config, o BenchTrainOptions) ([]*trainer.BenchResult, error) {
	if o.Steps < 1 || o.Warmup < 0 || o.Replicas < 0 {
		return nil, refuse("bench train: --steps must be at least 1, --warmup and --replicas at least 0")
	}
	counts := []int{o.Replicas}
	rk := newRanks(o.World)
	switch {
	case o.Replicas == 0 && rk != nil:
		counts = []int{cfg.Replicas()}
	case o.Replicas == 0:
		counts = []int{1, max(cfg.Replicas(), 2)}
	}
	var out []*trainer.BenchResult
	for _, r := range counts {
		world := r
		bo := trainer.BenchOptions{Replicas: r, Warmup: o.Warmup, Steps: o.Steps}
		if rk != nil {
			world, bo.Ranks = r*rk.Size(), *rk
		}
		if cfg.Data.BatchSize%world != 0 {
			return nil, refuse("bench train: data.batch_size %d does not divide over %d replicas", cfg.Data.BatchSize, world)
		}
		res, err := trainer.Bench(ctx, cfg, bo)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, nil
}

// BenchProbeOptions configure BenchProbe.
type BenchProbeOptions struct {
	NeWT, Images string // the suite; "" means eval.newt_csv and eval.images
	Workers      int    // goroutines; 0: every core
}

// BenchProbeResult is natssl bench probe's measurement; its JSON form is the command's
// contract.
type BenchProbeResult struct {
	Tasks        int     `json:"tasks"`
	Images       int     `json:"images"`
	FeatureDim   int     `json:"feature_dim"`
	Cores        int     `json:"cores"`
	FeaturesS    float64 `json:"features_s"`
	FitS         float64 `json:"fit_s"`
	ImagesPerS   float64 `json:"images_per_s"`
	TasksPerS    float64 `json:"tasks_per_s"`
	MeanAccuracy float64 `json:"mean_accuracy"`
}

// BenchProbe times the NeWT feature extraction of a random-init encoder of cfg's model and
// the linear-probe fits on the suite.
func BenchProbe(ctx context.Context, cfg *configs.Config, o BenchProbeOptions, obs Observer) (*BenchProbeResult, error) {
	obs = orDiscard(obs)
	o.NeWT, o.Images = suitePaths(cfg, experiments.SuiteNeWT, o.NeWT, o.Images)
	if o.NeWT == "" || o.Images == "" {
		return nil, refuse("bench probe: give --newt CSV and --images DIR|TAR.gz (or set eval.newt_csv and eval.images)")
	}
	s, err := loadSuite(ctx, o.NeWT, o.Images, false, obs)
	if err != nil {
		return nil, err
	}
	enc, err := trainer.NewEncoder(cfg.Model, cfg.Data.ImageSize, cfg.Run.Seed)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	feats, err := extractFeatures(ctx, cfg, enc, s, o.Workers, obs)
	if err != nil {
		return nil, err
	}
	featS := time.Since(start).Seconds()
	start = time.Now()
	res, err := probe.Evaluate(ctx, s.Suite, feats, probe.Options{Workers: o.Workers})
	if err != nil {
		return nil, err
	}
	fitS := time.Since(start).Seconds()
	return &BenchProbeResult{Tasks: len(res.Tasks), Images: len(feats.IDs), FeatureDim: feats.Dim, Cores: runtime.NumCPU(),
		FeaturesS: featS, FitS: fitS, ImagesPerS: float64(len(feats.IDs)) / featS, TasksPerS: float64(len(res.Tasks)) / fitS,
		MeanAccuracy: res.Mean}, nil
}
