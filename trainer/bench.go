package trainer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"

	"github.com/natssl/natssl/configs"
)

// BenchResult is one training-speed measurement; its JSON form is natssl bench train's
// contract (docs/DESIGN.md), so the extra fields stay out of it.
type BenchResult struct {
	Model       string  `json:"model"`
	Batch       int     `json:"batch"`
	ImageSize   int     `json:"image_size"`
	Replicas    int     `json:"replicas"`
	StepS       float64 `json:"step_s"`       // median step: forward, loss, backward, update
	ImagesPerS  float64 `json:"images_per_s"` // batch / step_s
	GFLOPS      float64 `json:"gflops"`       // forward + backward multiply-adds ×2 per second
	SgemmGFLOPS float64 `json:"sgemm_gflops"` // the same BLAS on one sgemm per replica, concurrently
	Params      int     `json:"-"`
	StepFLOPs   float64 `json:"-"`
	BLAS        string  `json:"-"`
}

// Bench times training steps of cfg's model on random batches with the given number of
// CPU replicas: warmup steps, then the median of steps.
func Bench(ctx context.Context, cfg *configs.Config, replicas, warmup, steps int) (*BenchResult, error) {
	devices := make([]string, replicas)
	for i := range devices {
		devices[i] = "cpu"
	}
	batch := cfg.Data.BatchSize
	bc := cfg.Clone()
	bc.Train.Devices = devices
	if err := CheckMemory(bc); err != nil {
		return nil, err
	}
	spec := specOf(cfg)
	spec.devices = devices
	n, err := newSpecNet(spec, buildOptions{})
	if err != nil {
		return nil, err
	}
	defer n.close()
	o, err := newOptimizer(cfg.Train.Optimizer, cfg.Train.Momentum, cfg.Train.WeightDecay, n.params)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Run.Seed), 1))
	var views [][]float32
	for _, g := range spec.groups {
		for range g.count {
			v := make([]float32, batch*3*g.size*g.size)
			for i := range v {
				v[i] = float32(rng.NormFloat64())
			}
			views = append(views, v)
		}
	}
	var times []float64
	for i := 0; i < warmup+steps; i++ {
		t0 := time.Now()
		if _, err := n.step(ctx, views); err != nil {
			return nil, err
		}
		o.step(n.params, n.grads, 1e-4)
		n.updated(int64(i), int64(warmup+steps))
		if i >= warmup {
			times = append(times, time.Since(t0).Seconds())
		}
	}
	sort.Float64s(times)
	med := times[len(times)/2]
	flops := 0.0
	for _, r := range n.replicas {
		flops += r.flops()
	}
	return &BenchResult{
		Model: benchModel(cfg, spec),
		Batch: batch, ImageSize: cfg.Data.ImageSize, Replicas: replicas,
		StepS: med, ImagesPerS: float64(batch) / med, GFLOPS: flops / med / 1e9,
		SgemmGFLOPS: sgemmGFLOPS(replicas), Params: n.store.numParams(), StepFLOPs: flops, BLAS: BLAS,
	}, nil
}

// benchModel names the model measured: backbone, width and head, and the method and views
// when they are not SimCLR's two.
func benchModel(cfg *configs.Config, spec netSpec) string {
	s := fmt.Sprintf("%s w=%d head %d-%d-%d", cfg.Model.Backbone, cfg.Model.Width, featureDim(cfg.Model), cfg.Model.ProjHidden, cfg.Model.ProjDim)
	if spec.method.Name != "simclr" || len(spec.groups) > 1 || spec.groups[0].count != 2 {
		s += ", " + spec.method.Name + ", views"
		for i, g := range spec.groups {
			sep := " "
			if i > 0 {
				sep = "+"
			}
			s += fmt.Sprintf("%s%d×%d", sep, g.count, g.size)
		}
	}
	return s
}

// sgemmGFLOPS measures the BLAS in use on a product shaped like a mid-network convolution
// (256 × 1152 by 1152 × 1024), one per replica at the same time, for about half a second.
func sgemmGFLOPS(replicas int) float64 {
	const m, k, nn = 256, 1152, 1024
	a, b := make([]float32, m*k), make([]float32, k*nn)
	for i := range a {
		a[i] = float32(i%7) * 0.1
	}
	for i := range b {
		b[i] = float32(i%5) * 0.1
	}
	var total float64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for r := 0; r < replicas; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := make([]float32, m*nn)
			bl := G.WhichBLAS()
			bl.Sgemm(blas.NoTrans, blas.NoTrans, m, nn, k, 1, a, k, b, nn, 0, c, nn) // warm
			t0 := time.Now()
			reps := 0
			for time.Since(t0) < 500*time.Millisecond {
				bl.Sgemm(blas.NoTrans, blas.NoTrans, m, nn, k, 1, a, k, b, nn, 0, c, nn)
				reps++
			}
			g := 2 * float64(m) * float64(k) * float64(nn) * float64(reps) / time.Since(t0).Seconds() / 1e9
			mu.Lock()
			total += g
			mu.Unlock()
		}()
	}
	wg.Wait()
	return total
}
