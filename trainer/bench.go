package trainer

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
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
	Batch       int     `json:"batch"` // global: over every replica of every rank
	ImageSize   int     `json:"image_size"`
	Replicas    int     `json:"replicas"`     // per rank
	Device      string  `json:"device"`       // of the replicas: cpu, or the GPUs: cuda:0, cuda:0+cuda:1
	Precision   string  `json:"precision"`    // fp32 or tf32 (the GPUs' products)
	WorldSize   int     `json:"world_size"`   // ranks (processes) taking the step together
	StepS       float64 `json:"step_s"`       // median step: forward, loss, backward, update
	CommS       float64 `json:"comm_s"`       // of it, in the collectives across ranks (median)
	ImagesPerS  float64 `json:"images_per_s"` // batch / step_s
	GFLOPS      float64 `json:"gflops"`       // forward + backward multiply-adds ×2 per second
	SgemmGFLOPS float64 `json:"sgemm_gflops"` // the same BLAS on one sgemm per replica, concurrently
	Params      int     `json:"-"`
	StepFLOPs   float64 `json:"-"`
	BLAS        string  `json:"-"`
}

// BenchOptions say what Bench measures.
type BenchOptions struct {
	Replicas      int   // CPU replicas of this process
	Warmup, Steps int   // steps before timing, and timed steps (the median is reported)
	Ranks         Ranks // the processes taking each step together (nil: this one); every rank calls Bench
}

// Bench times training steps of cfg's model on random batches with the given number of
// replicas: warmup steps, then the median of steps. The replicas run on the CPU, or on the
// GPUs of cfg's train.devices, in turn (two replicas of [cuda:0] share it; auto is the GPU
// of the rank's local rank); a step on GPUs is timed to the end of its update on the
// devices. Over ranks, the global batch (data.batch_size) is shared by every replica of
// every rank, each step includes the collectives (comm_s is their time, waiting for the
// slowest rank included), and rank 0's result speaks for the world: images/s, GFLOP/s and
// the sgemm ceiling of all ranks.
func Bench(ctx context.Context, cfg *configs.Config, o BenchOptions) (*BenchResult, error) {
	build := buildOptions{gpu: gpuOptions{precision: cfg.Train.Precision, optimizer: cfg.Train.Optimizer}}
	return bench(ctx, cfg, o, build)
}

func bench(ctx context.Context, cfg *configs.Config, o BenchOptions, build buildOptions) (*BenchResult, error) {
	localRank := 0
	if o.Ranks != nil {
		localRank = o.Ranks.LocalRank()
	}
	resolved, err := resolveDevices(cfg, localRank)
	if err != nil {
		return nil, err
	}
	onGPUs := slices.ContainsFunc(resolved, func(d string) bool { return strings.HasPrefix(d, "cuda:") })
	devices := make([]string, o.Replicas)
	for i := range devices {
		devices[i] = "cpu"
		if onGPUs {
			devices[i] = resolved[i%len(resolved)]
		}
	}
	batch, size := cfg.Data.BatchSize, 1
	var timed *timedRanks
	localSize := 1
	if o.Ranks != nil && o.Ranks.Size() > 1 {
		timed = &timedRanks{Ranks: o.Ranks}
		build.ranks, size, localSize = timed, o.Ranks.Size(), o.Ranks.LocalSize()
	}
	bc := cfg.Clone()
	bc.Train.Devices = devices
	if err := CheckRankMemory(bc, size, localSize); err != nil {
		return nil, err
	}
	spec := specOf(cfg)
	spec.devices = devices
	n, err := newSpecNet(spec, build)
	if err != nil {
		return nil, err
	}
	defer n.close()
	o2, err := newOptimizer(cfg.Train.Optimizer, cfg.Train.Momentum, cfg.Train.WeightDecay, n.params)
	if err != nil {
		return nil, err
	}
	rank := 0
	if timed != nil {
		rank = o.Ranks.Rank()
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Run.Seed), uint64(1+rank)))
	local := batch / size
	var views [][]float32
	for _, g := range spec.groups {
		for range g.count {
			v := make([]float32, local*3*g.size*g.size)
			for i := range v {
				v[i] = float32(rng.NormFloat64())
			}
			views = append(views, v)
		}
	}
	var times, comms []float64
	for i := 0; i < o.Warmup+o.Steps; i++ {
		t0 := time.Now()
		var c0 time.Duration
		if timed != nil {
			c0 = timed.spent
		}
		if _, err := n.step(ctx, views); err != nil {
			return nil, err
		}
		if err := n.update(o2, 1e-4); err != nil {
			return nil, err
		}
		if err := n.updated(int64(i), int64(o.Warmup+o.Steps)); err != nil {
			return nil, err
		}
		if err := n.sync(); err != nil {
			return nil, err
		}
		if i >= o.Warmup {
			times = append(times, time.Since(t0).Seconds())
			if timed != nil {
				comms = append(comms, (timed.spent - c0).Seconds())
			}
		}
	}
	flops := 0.0
	for _, r := range n.replicas {
		flops += r.flops()
	}
	res := &BenchResult{
		Model: benchModel(cfg, spec),
		Batch: batch, ImageSize: cfg.Data.ImageSize, Replicas: o.Replicas, Device: "cpu", Precision: configs.PrecisionFP32, WorldSize: size,
		Params: n.store.numParams(), BLAS: BLAS,
	}
	if n.dev == nil {
		res.SgemmGFLOPS = sgemmGFLOPS(o.Replicas)
	} else {
		res.Device, res.Precision = strings.Join(slices.Compact(slices.Sorted(slices.Values(devices))), "+"), cfg.Train.Precision
		if res.SgemmGFLOPS, res.BLAS, err = n.dev.sgemmGFLOPS(); err != nil {
			return nil, err
		}
	}
	if timed != nil {
		// Every rank measures its sgemm at the same time, as its replicas share the machine
		// (or each its GPUs).
		if res.SgemmGFLOPS, err = sumOverRanks(o.Ranks, res.SgemmGFLOPS); err != nil {
			return nil, err
		}
		flops *= float64(size)
	}
	med := median(times)
	res.StepS, res.CommS, res.ImagesPerS, res.GFLOPS, res.StepFLOPs = med, median(comms), float64(batch)/med, flops/med/1e9, flops
	return res, nil
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

// median is the middle of xs (0 for none).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	return xs[len(xs)/2]
}

// sumOverRanks adds x over the ranks (rank 0's result is the world's).
func sumOverRanks(ranks Ranks, x float64) (float64, error) {
	all, err := ranks.AllgatherInt64([]int64{int64(math.Float64bits(x))})
	if err != nil {
		return 0, err
	}
	sum := 0.0
	for _, v := range all {
		sum += math.Float64frombits(uint64(v))
	}
	return sum, nil
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
