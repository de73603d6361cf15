//go:build cgo

package trainer

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natssl/natssl/configs"
)

// The training checks of the CUDA backend, on the host simulation (TestCUDA…OnHost) and on
// a GPU (TestGPU…): a run against the same run on the CPU, replicas sharing a GPU against
// one replica, checkpoints moving between the CPU and a GPU, and exact resume on a GPU.

// deviceRun is a training setting of these checks.
type deviceRun struct {
	model       configs.Model
	size, batch int
	steps       int
	optimizer   string
	lr          float64 // per 256 images
	method      string  // "": SimCLR
	// im2col has the CPU run every convolution by im2col, as the GPUs do, not by Winograd's
	// method where it can: the two paths part by more than a GPU and the CPU's im2col do.
	im2col bool
	// paramFloor is how far the last checkpoints' parameters may part whatever their size
	// (0: 1e-8, the rounding noise of a parameter without a true gradient).
	paramFloor float64
	// crops are augment.crops (nil: two views at size).
	crops []configs.Crop
}

// adamReach is how far AdamW can carry a parameter in r's run: the sum of its learning
// rates, as AdamW steps each parameter by about the learning rate whatever its gradient's
// size. Where a gradient is no more than the noise of the order of its sums (BYOL's batch-norm
// shifts at gpuRun), a GPU and the CPU may step such a parameter in opposite directions, and
// part by up to that.
func adamReach(r deviceRun) float64 {
	cfg := r.config("cpu")
	peak, reach := peakLR(cfg.Train.LR, cfg.Data.BatchSize), 0.0
	for k := range r.steps {
		reach += schedule(peak, k, cfg.Train.WarmupSteps, r.steps)
	}
	return reach
}

// simRun is small enough for the host simulation; gpuRun is the GPU check's. Its optimizer
// and learning rate are tame enough that runs whose sums differ only in order stay within
// 1e-3 for 20 steps: measured between the CPU's two convolution paths (Winograd and im2col),
// AdamW at 3e-4 per 256 images parts by 1e-4 at most, where SGD with momentum parts by 2%
// even at 0.01 (its steps on this noise data grow a difference tenfold a step) and AdamW at
// 3e-3 by 1%.
var (
	simRun = deviceRun{configs.Model{Backbone: "resnet18-cifar", Width: 4, ProjHidden: 16, ProjDim: 8}, 16, 8, 6, "adamw", 0.003, "", false, 0, nil}
	gpuRun = deviceRun{configs.Model{Backbone: "resnet18-cifar", Width: 16, ProjHidden: 64, ProjDim: 32}, 32, 32, 20, "adamw", 0.0003, "", false, 0, nil}
)

func (r deviceRun) config(devices ...string) *configs.Config {
	cfg := tinyConfig()
	cfg.Model = r.model
	cfg.Data.ImageSize, cfg.Data.BatchSize = r.size, r.batch
	cfg.Train.Devices = devices
	cfg.Train.Steps = r.steps
	cfg.Train.Optimizer = r.optimizer
	cfg.Train.LR = r.lr
	cfg.Train.CheckpointEvery = r.steps / 2
	if r.method != "" {
		cfg.Method.Name = r.method
	}
	cfg.Augment.Crops = r.crops
	if r.method == "moco" {
		// Two batches of keys: the queue wraps twice in six steps, and holds no key of the
		// query's own image (the synthetic epoch is three batches).
		cfg.Method.QueueSize = 2 * r.batch
	}
	return cfg
}

func (r deviceRun) source(start Position) *synthSource {
	var sizes []int
	for _, c := range r.crops {
		for range c.Count {
			sizes = append(sizes, c.Size)
		}
	}
	return &synthSource{batch: r.batch, size: r.size, sizes: sizes, seed: 9, perEpoch: int64(3 * r.batch), pos: start}
}

// train runs cfg on tg (nil: the CPU) from start (a checkpoint, or nil) and returns every
// step's loss and the result.
func (r deviceRun) train(t *testing.T, tg *backendTarget, cfg *configs.Config, resume *Checkpoint) (map[int64]float64, *Result) {
	t.Helper()
	opt := Options{Config: cfg, Source: r.source(Position{}), CheckpointDir: t.TempDir(), Resume: resume}
	if resume != nil {
		opt.Source = r.source(resume.Header.Position)
	}
	if tg != nil {
		opt.build = tg.opts(cfg.Train.Optimizer)
	} else {
		opt.build.noWinograd = r.im2col
	}
	res, losses, err := trainSteps(t, context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	return losses, res
}

// sameLosses compares two runs' losses step by step, within tol relative (0: the same bits).
func sameLosses(t *testing.T, what string, got, want map[int64]float64, from, to int64, tol float64) {
	t.Helper()
	for s := from; s <= to; s++ {
		g, w := got[s], want[s]
		if _, ok := got[s]; !ok {
			t.Fatalf("%s: no step %d", what, s)
		}
		if tol == 0 && g != w || math.Abs(g-w) > tol*math.Abs(w) || math.IsNaN(g) {
			t.Errorf("%s: step %d loss %.7f, want %.7f (tolerance %g)", what, s, g, w, tol)
		}
	}
}

// checkTraining trains on the target's GPUs and on as many CPU replicas from the same seed
// and data: every step's loss within tol.
func checkTraining(t *testing.T, tg backendTarget, r deviceRun, gpus []string, tol float64) {
	cpus := make([]string, len(gpus))
	for i := range cpus {
		cpus[i] = "cpu"
	}
	want, wres := r.train(t, nil, r.config(cpus...), nil)
	got, gres := r.train(t, &tg, r.config(gpus...), nil)
	sameLosses(t, fmt.Sprintf("%v against %v", gpus, cpus), got, want, 1, int64(r.steps), tol)
	// The last checkpoints' parameters and running statistics. (Not the optimizer's state:
	// AdamW's first moment follows the gradients' noise; exact resume checks its copies.)
	wc, err := ReadCheckpoint(wres.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	gc, err := ReadCheckpoint(gres.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	// Within 100·tol of each tensor's largest value, and 1e-8 absolute: the bias before the
	// head's batch norm has no true gradient, only rounding noise (or r.paramFloor).
	floor := 1e-8
	if r.paramFloor > 0 {
		floor = r.paramFloor
	}
	for name, w := range wc.Tensors {
		if strings.HasPrefix(name, "opt/") {
			continue
		}
		g := gc.Tensors[name]
		var scale float64
		for _, v := range w {
			scale = math.Max(scale, math.Abs(float64(v)))
		}
		for i := range w {
			if d := math.Abs(float64(g[i] - w[i])); d > 100*tol*scale+floor || math.IsNaN(d) {
				t.Errorf("%v: checkpoint tensor %s[%d] = %v, CPU %v", gpus, name, i, g[i], w[i])
				break
			}
		}
	}
	t.Logf("%v: step 1 loss %.6f (CPU %.6f), step %d %.6f (CPU %.6f)", gpus, got[1], want[1], r.steps, got[int64(r.steps)], want[int64(r.steps)])
}

// checkReplicasShareGPU: two replicas on one GPU give the loss and gradients of one replica
// on the same global batch, for a model without batch statistics (each replica would
// otherwise normalise its own share), as TestReplicaEquivalence holds the CPU to.
func checkReplicasShareGPU(t *testing.T, tg backendTarget, r deviceRun, tol float64) {
	views := randomViews(11, r.batch, r.size)
	run := func(devices ...string) (float64, [][]float32) {
		opt := tg.opts(r.optimizer)
		opt.noBN = true
		n, err := newNet(r.model, r.size, r.batch, devices, 3, 0.5, opt)
		if err != nil {
			t.Fatal(err)
		}
		defer n.close()
		loss, err := n.step(context.Background(), views)
		if err != nil {
			t.Fatal(err)
		}
		g, err := n.hostGrads()
		if err != nil {
			t.Fatal(err)
		}
		return loss, g
	}
	l1, g1 := run("cuda:0")
	for _, devices := range [][]string{{"cuda:0", "cuda:0"}, {"cuda:0", "cuda:1"}} {
		if devices[1] == "cuda:1" && tg.gpus() < 2 {
			continue
		}
		l2, g2 := run(devices...)
		if math.Abs(l2-l1) > tol*math.Abs(l1) {
			t.Errorf("%v: loss %v, one replica %v", devices, l2, l1)
		}
		for i := range g1 {
			var scale float64
			for _, v := range g1[i] {
				scale = math.Max(scale, math.Abs(float64(v)))
			}
			for j := range g1[i] {
				if d := math.Abs(float64(g2[i][j] - g1[i][j])); d > 10*tol*scale+1e-7 {
					t.Errorf("%v: gradient %d [%d] %v, one replica %v", devices, i, j, g2[i][j], g1[i][j])
					break
				}
			}
		}
	}
}

// checkCheckpoints: a run's checkpoint from the GPU resumes on the CPU, and one from the
// CPU on the GPU, each continuing within tol of the run it left; one from the GPU resumes
// on the GPU with the same bits as the run that went on, with one replica and with two
// sharing the GPU.
func checkCheckpoints(t *testing.T, tg backendTarget, r deviceRun, tol float64) {
	half := int64(r.steps / 2)
	gpu, gres := r.train(t, &tg, r.config("cuda:0"), nil)
	cpu, cres := r.train(t, nil, r.config("cpu"), nil)
	at := func(res *Result) *Checkpoint {
		c, err := ReadCheckpoint(filepath.Join(filepath.Dir(res.Checkpoint), checkpointName(half)))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	onCPU, _ := r.train(t, nil, r.config("cpu"), at(gres))
	sameLosses(t, "GPU checkpoint resumed on the CPU", onCPU, gpu, half+1, int64(r.steps), tol)
	onGPU, _ := r.train(t, &tg, r.config("cuda:0"), at(cres))
	sameLosses(t, "CPU checkpoint resumed on the GPU", onGPU, cpu, half+1, int64(r.steps), tol)
	again, ares := r.train(t, &tg, r.config("cuda:0"), at(gres))
	sameLosses(t, "GPU checkpoint resumed on the GPU", again, gpu, half+1, int64(r.steps), 0)
	sameCheckpoints(t, ares.Checkpoint, gres.Checkpoint)
	two, tres := r.train(t, &tg, r.config("cuda:0", "cuda:0"), nil)
	twoAgain, t2res := r.train(t, &tg, r.config("cuda:0", "cuda:0"), at(tres))
	sameLosses(t, "checkpoint of two replicas on a GPU resumed there", twoAgain, two, half+1, int64(r.steps), 0)
	sameCheckpoints(t, t2res.Checkpoint, tres.Checkpoint)
}

func TestCUDATrainingOnHost(t *testing.T) {
	tg := simTarget(t)
	for _, gpus := range [][]string{{"cuda:0"}, {"cuda:0", "cuda:0"}, {"cuda:0", "cuda:1"}} {
		t.Run(fmt.Sprint(gpus), func(t *testing.T) { checkTraining(t, tg, simRun, gpus, 1e-4) })
	}
}

// TestCUDAGPURunOnHost: the GPU check's run (gpuRun: 20 steps, its model, batch and
// learning rate) stays within its 1e-3 of the CPU on the host simulation, whose sums differ
// from the CPU's in order as a GPU's do; with a learning rate that makes such differences
// grow, TestGPUTraining would fail on any GPU. About two minutes: not in short mode, nor
// under the race detector (make test runs it in a pass of its own).
func TestCUDAGPURunOnHost(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("two minutes of training on the host simulation: run without -short and -race")
	}
	checkTraining(t, simTarget(t), gpuRun, []string{"cuda:0"}, 1e-3)
}

func TestCUDAReplicasOnHost(t *testing.T) { checkReplicasShareGPU(t, simTarget(t), simRun, 1e-5) }

func TestCUDACheckpointsOnHost(t *testing.T) { checkCheckpoints(t, simTarget(t), simRun, 1e-4) }

// TestGPUTraining: 20 steps on cuda:0 within 1e-3 of the same 20 steps on the CPU, every
// step; and on two replicas of cuda:0 against two CPU replicas.
func TestGPUTraining(t *testing.T) {
	tg := gpuTarget(t)
	for _, gpus := range [][]string{{"cuda:0"}, {"cuda:0", "cuda:0"}} {
		t.Run(fmt.Sprint(gpus), func(t *testing.T) { checkTraining(t, tg, gpuRun, gpus, 1e-3) })
	}
}

func TestGPUReplicasShareGPU(t *testing.T) { checkReplicasShareGPU(t, gpuTarget(t), gpuRun, 1e-4) }

func TestGPUCheckpoints(t *testing.T) {
	r := gpuRun
	r.steps = 8
	checkCheckpoints(t, gpuTarget(t), r, 1e-3)
}

func TestGPUSignalCheckpoints(t *testing.T) {
	gpuTarget(t)
	testSignalCheckpoints(t, "cuda:0")
}

// TestCUDABenchOnHost: natssl bench train on GPUs names them and the precision, and
// measures the devices' BLAS, for SimCLR and for BYOL (whose steps move its target network).
func TestCUDABenchOnHost(t *testing.T) {
	tg := simTarget(t)
	defer func(s [3]int) { gpuSgemmShape = s }(gpuSgemmShape)
	gpuSgemmShape = [3]int{16, 16, 16}
	for _, method := range []string{"", "byol"} {
		r := simRun
		r.method = method
		cfg := r.config("cuda:0", "cuda:1")
		res, err := bench(context.Background(), cfg, BenchOptions{Replicas: 2, Steps: 1}, tg.opts(cfg.Train.Optimizer))
		if err != nil {
			t.Fatal(err)
		}
		if res.Device != "cuda:0+cuda:1" || res.Precision != "fp32" || res.StepS <= 0 || res.SgemmGFLOPS <= 0 || res.BLAS != "cuBLAS" {
			t.Errorf("%q: %+v", method, res)
		}
	}
}
