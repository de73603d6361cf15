//go:build cgo

package trainer

import (
	"fmt"
	"testing"

	"github.com/natssl/natssl/configs"
)

// The methods on GPUs: VICReg and Barlow Twins, whose heads are the ops the CUDA backend has,
// train there as SimCLR does; BYOL's and MoCo v2's target networks live on every GPU beside
// the online one and take their EMA step there, MoCo's queue stays with the loss on the host;
// multi-crop runs a backbone per crop size there as on the CPU.

// TestCUDAMethodsOnHost: every method on the simulated GPUs, one and two (and for the methods
// with a target network, two replicas sharing one), within 1e-4 of the same runs on the CPU at
// every step, and their last checkpoints alike: the target network's parameters and MoCo's
// queue too; and multi-crop (2 × 16 px and 3 × 8 px) for the methods that take small crops:
// each crop size's backbone on the GPU, their batch norms moving the same running statistics,
// the head once over every view. The CPU convolves by im2col as the GPUs do: its Winograd path
// parts from its own im2col by 1% of an AdamW step on the small shifts of Barlow Twins' batch
// norms, where the GPUs follow im2col.
func TestCUDAMethodsOnHost(t *testing.T) {
	tg := simTarget(t)
	one, two, shared := []string{"cuda:0"}, []string{"cuda:0", "cuda:1"}, []string{"cuda:0", "cuda:0"}
	crops := []configs.Crop{{Size: 16, Count: 2, Scale: [2]float64{0.3, 1}}, {Size: 8, Count: 3, Scale: [2]float64{0.1, 0.3}}}
	for _, c := range []struct {
		method string
		crops  []configs.Crop
		gpus   [][]string
	}{
		{"vicreg", nil, [][]string{one, two}},
		{"barlow", nil, [][]string{one, two}},
		{"byol", nil, [][]string{one, two, shared}},
		{"moco", nil, [][]string{one, two, shared}},
		{"simclr", crops, [][]string{one, two}},
		{"byol", crops, [][]string{one, two}},
		{"moco", crops, [][]string{one, two}},
	} {
		for _, gpus := range c.gpus {
			name := fmt.Sprint(c.method, gpus)
			if c.crops != nil {
				name = fmt.Sprint(c.method, " multi-crop", gpus)
			}
			t.Run(name, func(t *testing.T) {
				r := simRun
				r.method, r.im2col, r.crops = c.method, true, c.crops
				checkTraining(t, tg, r, gpus, 1e-4)
			})
		}
	}
}

// TestCUDAMethodCheckpointsOnHost: a BYOL or MoCo checkpoint (target network, queue and its
// pointer) moves between the CPU and the simulated GPU, each continuing within 1e-4 of the run
// it left, and resumes on the GPU with the same bits, as SimCLR's do.
func TestCUDAMethodCheckpointsOnHost(t *testing.T) {
	tg := simTarget(t)
	for _, method := range []string{"byol", "moco"} {
		t.Run(method, func(t *testing.T) {
			r := simRun
			r.method, r.im2col = method, true
			checkCheckpoints(t, tg, r, 1e-4)
		})
	}
}

// TestGPUMethods: BYOL and MoCo v2 for 20 steps on cuda:0 within 1e-3 of the CPU, every step,
// their target networks and queues too, and their checkpoints between the CPU and the GPU;
// SimCLR with multi-crop (2 × 32 px, 4 × 16 px) for 20 steps within 1e-3 of the CPU. The last
// checkpoints' parameters agree within AdamW's reach where their gradients are noise: on the
// host simulation some batch-norm shifts of BYOL and of multi-crop part by more than a
// learning rate, though every step's loss agrees within 1.1e-4.
func TestGPUMethods(t *testing.T) {
	tg := gpuTarget(t)
	for _, method := range []string{"byol", "moco"} {
		t.Run(method, func(t *testing.T) {
			r := gpuRun
			r.method, r.im2col = method, true
			r.paramFloor = adamReach(r)
			checkTraining(t, tg, r, []string{"cuda:0"}, 1e-3)
			r.steps = 8
			checkCheckpoints(t, tg, r, 1e-3)
		})
	}
	t.Run("simclr multi-crop", func(t *testing.T) { checkTraining(t, tg, gpuMultiCrop(), []string{"cuda:0"}, 1e-3) })
}

// gpuMultiCrop is gpuRun with multi-crop views.
func gpuMultiCrop() deviceRun {
	r := gpuRun
	r.im2col = true
	r.crops = []configs.Crop{{Size: 32, Count: 2, Scale: [2]float64{0.3, 1}}, {Size: 16, Count: 4, Scale: [2]float64{0.1, 0.3}}}
	r.paramFloor = adamReach(r)
	return r
}
