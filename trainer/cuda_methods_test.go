//go:build cgo

package trainer

import (
	"fmt"
	"strings"
	"testing"

	"github.com/natssl/natssl/configs"
)

// The methods on GPUs: VICReg and Barlow Twins, whose heads are the ops the CUDA backend has
// and which have no target network, train there as SimCLR does; BYOL, MoCo v2 and multi-crop
// are refused before anything is opened.

// TestCUDAMethodsOnHost: VICReg and Barlow Twins on the simulated GPUs, one and two, within
// 1e-4 of the same runs on the CPU at every step, and their last checkpoints alike. The CPU
// convolves by im2col as the GPUs do: its Winograd path parts from its own im2col by 1% of an
// AdamW step on the small shifts of Barlow Twins' batch norms, where the GPUs follow im2col.
func TestCUDAMethodsOnHost(t *testing.T) {
	tg := simTarget(t)
	for _, method := range []string{"vicreg", "barlow"} {
		for _, gpus := range [][]string{{"cuda:0"}, {"cuda:0", "cuda:1"}} {
			t.Run(fmt.Sprint(method, gpus), func(t *testing.T) {
				r := simRun
				r.method, r.im2col = method, true
				checkTraining(t, tg, r, gpus, 1e-4)
			})
		}
	}
}

// TestCUDAMethodsRefused: a method or views the CUDA backend does not have yet are refused in
// one line, on the simulation and by CheckDevices before any GPU is opened (none is here).
func TestCUDAMethodsRefused(t *testing.T) {
	tg := simTarget(t)
	multiCrop := []viewGroup{{16, 2}, {8, 2}}
	for _, c := range []struct {
		name   string
		method string
		groups []viewGroup
		want   string
	}{
		{"byol", "byol", nil, "method.name byol on GPUs: not supported yet"},
		{"moco", "moco", nil, "method.name moco on GPUs: not supported yet"},
		{"multi-crop", "simclr", multiCrop, "augment.crops of 2 sizes on GPUs: not supported yet"},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := specOf(simRun.config("cuda:0"))
			spec.method = configs.Method{Name: c.method}
			if c.groups != nil {
				spec.groups = c.groups
			}
			_, err := newSpecNet(spec, tg.opts("adamw"))
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("on the simulation: %v, want one line with %q", err, c.want)
			}
			cfg := simRun.config("cuda:0")
			cfg.Method.Name = c.method
			if c.groups != nil {
				cfg.Augment.Crops = []configs.Crop{{Size: 16, Count: 2, Scale: [2]float64{0.3, 1}}, {Size: 8, Count: 2, Scale: [2]float64{0.1, 0.3}}}
			}
			if err := CheckDevices(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("CheckDevices: %v, want %q", err, c.want)
			}
			cfg.Train.Devices = []string{"cpu"}
			if err := CheckDevices(cfg); err != nil {
				t.Errorf("on the CPU: %v", err)
			}
		})
	}
}
