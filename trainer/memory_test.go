package trainer

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/natssl/natssl/configs"
)

// TestEstimateMemoryParams: the shape walk counts exactly the parameters the builder makes,
// for every backbone.
func TestEstimateMemoryParams(t *testing.T) {
	for _, bb := range []string{"convnet-small", "resnet18-cifar", "resnet18", "resnet50"} {
		t.Run(bb, func(t *testing.T) {
			m := configs.Model{Backbone: bb, Width: 2, ProjHidden: 16, ProjDim: 8}
			n, err := newNet(m, 32, 4, []string{"cpu"}, 1, 0.5, buildOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer n.close()
			var got int64
			for _, p := range n.params {
				got += int64(len(p.data()))
			}
			if w := walkModel(m, 8, 32); w.params != got {
				t.Errorf("walk counts %d parameters, the model has %d", w.params, got)
			}
		})
	}
}

// TestEstimateMemoryCoversATrainingStep: the estimate is at least the heap that building the
// model and taking steps allocates, and not wildly above it.
func TestEstimateMemoryCoversATrainingStep(t *testing.T) {
	for _, tc := range []struct {
		model       configs.Model
		size, batch int
	}{
		{configs.Model{Backbone: "convnet-small", Width: 16, ProjHidden: 64, ProjDim: 32}, 32, 32},
		{configs.Model{Backbone: "resnet18-cifar", Width: 8, ProjHidden: 64, ProjDim: 32}, 16, 16},
	} {
		t.Run(fmt.Sprintf("%s/%d/%d", tc.model.Backbone, tc.size, tc.batch), func(t *testing.T) {
			cfg := tinyConfig()
			cfg.Model, cfg.Data.ImageSize, cfg.Data.BatchSize = tc.model, tc.size, tc.batch
			cfg.Train.Steps = 2
			checkEstimate(t, cfg, &synthSource{batch: tc.batch, size: tc.size, seed: 1, perEpoch: 1 << 20})
		})
	}
}

// TestEstimateMemoryMethods: for every method and multi-crop, the shape walk counts exactly
// the online parameters (heads and predictor included) and the target network's.
func TestEstimateMemoryMethods(t *testing.T) {
	for _, tc := range methodCases {
		t.Run(tc.name, func(t *testing.T) {
			spec := testSpec(tc.method, tc.groups, 8, cpus(1))
			n, err := newSpecNet(spec, buildOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer n.close()
			count := func(ps []*param) (c int64) {
				for _, p := range ps {
					c += int64(len(p.data()))
				}
				return c
			}
			var target int64
			if n.target != nil {
				target = count(n.target.store.params)
			}
			on, tg := walkSpec(spec, 8)
			if on.params != count(n.params) || tg.params != target {
				t.Errorf("walk counts %d online and %d target parameters, the net has %d and %d", on.params, tg.params, count(n.params), target)
			}
		})
	}
}

// TestEstimateMemoryCoversMethods: for every method's training (multi-crop where it pairs),
// the estimate is at least the heap that taking steps allocates, and not wildly above it.
func TestEstimateMemoryCoversMethods(t *testing.T) {
	for name, cfg := range methodConfigs() {
		t.Run(name, func(t *testing.T) {
			cfg := cfg.Clone()
			cfg.Model = configs.Model{Backbone: "convnet-small", Width: 16, ProjHidden: 64, ProjDim: 32}
			cfg.Train.Steps = 2
			checkEstimate(t, cfg, sourceFor(cfg, Position{}))
		})
	}
}

// TestCheckMemoryRefuses: a config far beyond the machine is refused before anything is
// allocated, with the estimate and the machine's memory; a small one passes.
func TestCheckMemoryRefuses(t *testing.T) {
	if _, ok := MachineMemory(); !ok {
		t.Skip("no /proc/meminfo")
	}
	cfg := configs.Default()
	if err := CheckMemory(cfg); err != nil {
		t.Fatalf("the default config: %v", err)
	}
	cfg.Model = configs.Model{Backbone: "resnet50", Width: 1024, ProjHidden: 16384, ProjDim: 16384}
	cfg.Data.ImageSize, cfg.Data.BatchSize = 2048, 65536
	err := CheckMemory(cfg)
	if err == nil || !strings.Contains(err.Error(), "more than this machine's") || !strings.Contains(err.Error(), "GiB") {
		t.Fatalf("CheckMemory = %v, want a refusal with the estimate", err)
	}
	if _, err := newTraining(Options{Config: cfg, Source: &synthSource{batch: 8, size: 8, seed: 1}, CheckpointDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "more than this machine's") {
		t.Fatalf("newTraining = %v, want the same refusal before building", err)
	}
}

// TestCheckRankMemory: over ranks each holds its share of the batch, and the ranks on one
// machine share its memory.
func TestCheckRankMemory(t *testing.T) {
	avail, ok := MachineMemory()
	if !ok {
		t.Skip("no /proc/meminfo")
	}
	cfg := configs.Default()
	cfg.Model = configs.Model{Backbone: "resnet50", Width: 64, ProjHidden: 2048, ProjDim: 128}
	cfg.Data.ImageSize = 224
	// The smallest batch beyond this machine in one process.
	for cfg.Data.BatchSize = 64; EstimateMemory(cfg).Total() <= avail; cfg.Data.BatchSize *= 2 {
	}
	const size = 256
	if err := CheckMemory(cfg); err == nil {
		t.Fatalf("one process of batch %d: no refusal", cfg.Data.BatchSize)
	}
	if err := CheckRankMemory(cfg, size, 1); err != nil {
		t.Fatalf("%d ranks of batch %d, one per machine: %v", size, cfg.Data.BatchSize, err)
	}
	err := CheckRankMemory(cfg, size, size)
	var me *MemoryError
	if !errors.As(err, &me) || me.Ranks != size || !strings.Contains(err.Error(), fmt.Sprintf("for the %d ranks on this machine", size)) {
		t.Fatalf("%d ranks on one machine: %v, want a refusal naming them", size, err)
	}
}

// TestEstimateMemoryOnGPUs: on GPUs the host holds no activations: resnet50 at 224 px and
// batch 256, which needs hundreds of GiB on the CPU, needs a few GiB of the host on a GPU,
// and passes CheckMemory on a machine that refuses it on the CPU, [auto] as the machine
// resolves it.
func TestEstimateMemoryOnGPUs(t *testing.T) {
	cfg := configs.Default()
	cfg.Model = configs.Model{Backbone: "resnet50", Width: 64, ProjHidden: 2048, ProjDim: 128}
	cfg.Data.ImageSize, cfg.Data.BatchSize = 224, 256
	cfg.Train.Devices = []string{"cpu"}
	cpu := EstimateMemory(cfg)
	cfg.Train.Devices = []string{"cuda:0"}
	gpu := EstimateMemory(cfg)
	if gpu.Activations != 0 || gpu.Params >= cpu.Params || gpu.Batches <= cpu.Batches || gpu.Total() > 16<<30 || cpu.Total() < 100<<30 {
		t.Fatalf("on a GPU %+v (%s), on the CPU %+v (%s)", gpu, gib(gpu.Total()), cpu, gib(cpu.Total()))
	}
	avail, ok := MachineMemory()
	if !ok || avail < gpu.Total() || avail >= cpu.Total() {
		return // this machine does not tell the two apart
	}
	if err := CheckMemory(cfg); err != nil {
		t.Errorf("on a GPU: %v", err)
	}
	defer func(f func() (int, error)) { gpuCount = f }(gpuCount)
	gpuCount = func() (int, error) { return 2, nil }
	cfg.Train.Devices = []string{AutoDevice}
	if err := CheckRankMemory(cfg, 4, 2); err != nil {
		t.Errorf("[auto] on a machine with GPUs: %v", err)
	}
	gpuCount = func() (int, error) { return 0, nil }
	if err := CheckMemory(cfg); err == nil {
		t.Error("[auto] on a machine without GPUs: no refusal")
	}
	cfg.Train.Devices = []string{"cpu"}
	if err := CheckMemory(cfg); err == nil {
		t.Error("on the CPU: no refusal")
	}
}

// checkEstimate trains cfg's steps from src and checks that EstimateMemory's model part is at
// least a third of the heap they allocate and at most four times it.
func checkEstimate(t *testing.T, cfg *configs.Config, src Source) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tr, err := newTraining(Options{Config: cfg, Source: src, CheckpointDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.net.close()
	if _, err := tr.run(context.Background()); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(tr)
	used := int64(after.TotalAlloc - before.TotalAlloc)
	est := EstimateMemory(cfg)
	model := est.Params + est.Activations + est.Loss
	t.Logf("estimate %d (params %d, activations %d, loss %d), allocated %d", model, est.Params, est.Activations, est.Loss, used)
	if model < used/3 || model > 4*used {
		t.Errorf("estimate %d for %d bytes allocated by %d steps", model, used, cfg.Train.Steps)
	}
}
