package trainer

import (
	"errors"
	"fmt"
	"strings"

	"github.com/natssl/natssl/configs"
)

// openDevices is the one place where the entries of train.devices become backends: the CPU
// backend and host inputs for cpu, the CUDA backend and device inputs for cuda:N
// (cuda_net.go), where the net also gets the GPUs' part of the step (deviceNet). Every
// replica of a net runs on the same kind of device; n is the images of each.
func openDevices(spec netSpec, n int, opt buildOptions) ([]backend, []replicaInput, deviceNet, error) {
	parsed, gpus, err := parseDevices(spec.devices)
	if err != nil {
		return nil, nil, nil, err
	}
	if gpus > 0 {
		return openCUDA(parsed, n, spec.groups, opt)
	}
	bes, ins := make([]backend, len(spec.devices)), make([]replicaInput, len(spec.devices))
	for i := range spec.devices {
		bes[i], ins[i] = cpuBackend{}, newHostInput(n, spec.groups)
	}
	return bes, ins, nil, nil
}

// parseDevices reads train.devices and counts its GPUs; it refuses a list that mixes the
// CPU and GPUs.
func parseDevices(devices []string) ([]configs.Device, int, error) {
	parsed := make([]configs.Device, len(devices))
	gpus := 0
	for i, s := range devices {
		d, err := configs.ParseDevice(s)
		if err != nil {
			return nil, 0, fmt.Errorf("trainer: train.devices: %w", err)
		}
		parsed[i] = d
		if d.CUDA {
			gpus++
		}
	}
	if len(devices) == 0 {
		return nil, 0, errors.New("trainer: no devices")
	}
	if gpus > 0 && gpus < len(devices) {
		return nil, 0, fmt.Errorf("trainer: train.devices [%s] mixes the CPU and GPUs: every replica runs on the same kind of device",
			strings.Join(devices, ", "))
	}
	return parsed, gpus, nil
}

// gpuOptions are the settings of a net on GPUs.
type gpuOptions struct {
	precision string // configs.PrecisionFP32 or PrecisionTF32
	optimizer string // the optimizer whose state the first device holds
	// count builds the net without a GPU, counting the device memory it would allocate.
	count bool
	// sim runs the CUDA backend on the host simulation of the kernels (tests).
	sim *simulation
}
