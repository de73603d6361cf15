package trainer

import (
	"errors"
	"fmt"

	"github.com/natssl/natssl/configs"
)

// AutoDevice is the train.devices entry that stands for the device following the process's
// local rank: one process per device, as mpirun and srun start them.
const AutoDevice = "auto"

// gpuCount is the number of GPUs this build can train on here: none in a build without a GPU
// backend, or where the machine has no CUDA driver or the driver sees no GPU (the CUDA build
// sets it, cuda_devices.go). A driver whose libraries are missing or too old is an error, not
// a reason to train on the CPU.
var gpuCount = func() (int, error) { return 0, nil }

// ResolveDevices returns the devices this process trains on: train.devices with "auto" made
// the GPU of the process's local rank (cuda:<local rank mod GPUs>) where the build has a GPU
// backend and the machine GPUs, and the CPU otherwise.
func ResolveDevices(devices []string, localRank int) ([]string, error) {
	out := make([]string, len(devices))
	for i, d := range devices {
		if d != AutoDevice {
			out[i] = d
			continue
		}
		if localRank < 0 {
			return nil, fmt.Errorf("trainer: train.devices auto: local rank %d", localRank)
		}
		n, err := gpuCount()
		if err != nil {
			return nil, fmt.Errorf("trainer: train.devices auto: %w", err)
		}
		out[i] = "cpu"
		if n > 0 {
			out[i] = configs.Device{CUDA: true, Index: localRank % n}.String()
		}
	}
	return out, nil
}

// resolveDevices is cfg's train.devices for the process of local rank localRank
// (ResolveDevices), refusing train.precision tf32 where auto is the CPU.
func resolveDevices(cfg *configs.Config, localRank int) ([]string, error) {
	devices, err := ResolveDevices(cfg.Train.Devices, localRank)
	if err != nil {
		return nil, err
	}
	if cfg.Train.Auto() && devices[0] == "cpu" && cfg.Train.Precision == configs.PrecisionTF32 {
		return nil, errors.New("trainer: train.precision tf32 needs a GPU, and train.devices [auto] is the CPU here: no CUDA driver, or it sees no GPU")
	}
	return devices, nil
}

// GPUCount is the number of GPUs this build can train on here (0 where it cannot tell): how
// many ranks a machine runs with train.devices [auto].
func GPUCount() int {
	n, _ := gpuCount()
	return n
}

// CheckDevices refuses, before any work, a config whose train.devices cannot train: a
// cuda:N with no driver found (naming every place searched), N out of range, a driver,
// library or GPU too old, or a batch beyond a GPU's free memory (naming the batch and the
// memory it needs); [auto] where the driver is there without its libraries; any GPU in a
// build without cgo. Each error is one line. A config on the CPU passes.
func CheckDevices(cfg *configs.Config) error { return CheckRankDevices(cfg, 1, 0) }

// CheckRankDevices is CheckDevices for the process of local rank localRank in a run over
// size ranks: its train.devices resolved (ResolveDevices), its share of the batch.
func CheckRankDevices(cfg *configs.Config, size, localRank int) error {
	devices, err := resolveDevices(cfg, localRank)
	if err != nil {
		return err
	}
	spec := specOf(cfg)
	spec.devices = devices
	opt := buildOptions{gpu: gpuOptions{precision: cfg.Train.Precision, optimizer: cfg.Train.Optimizer}}
	return preflight(spec, size, opt)
}
