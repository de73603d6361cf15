package configs

import (
	"fmt"
	"strconv"
	"strings"
)

// Device is one entry of train.devices: the CPU, or the CUDA GPU of an index.
type Device struct {
	CUDA  bool
	Index int // cuda:Index; 0 for the CPU
}

// CPU is the device "cpu".
var CPU = Device{}

// maxCUDAIndex bounds N in cuda:N: far beyond any machine, small enough to print.
const maxCUDAIndex = 1 << 16

// ParseDevice reads a device name: "cpu" or "cuda:N" (N a decimal index, without sign or
// leading zeros).
func ParseDevice(s string) (Device, error) {
	if s == "cpu" {
		return CPU, nil
	}
	n, ok := strings.CutPrefix(s, "cuda:")
	if !ok {
		return Device{}, fmt.Errorf("%q is not a device: want cpu or cuda:N", s)
	}
	i, err := strconv.Atoi(n)
	if err != nil || i < 0 || n != strconv.Itoa(i) {
		return Device{}, fmt.Errorf("%q is not a device: N in cuda:N is a GPU's index (0, 1, …)", s)
	}
	if i > maxCUDAIndex {
		return Device{}, fmt.Errorf("%q is not a device: no machine has %d GPUs", s, i+1)
	}
	return Device{CUDA: true, Index: i}, nil
}

func (d Device) String() string {
	if !d.CUDA {
		return "cpu"
	}
	return fmt.Sprintf("cuda:%d", d.Index)
}

// ParsedDevices parses train.devices.
func (t *Train) ParsedDevices() ([]Device, error) {
	out := make([]Device, len(t.Devices))
	for i, s := range t.Devices {
		d, err := ParseDevice(s)
		if err != nil {
			return nil, fmt.Errorf("config: train.devices: %w", err)
		}
		out[i] = d
	}
	return out, nil
}

// Auto reports whether train.devices is [auto]: the device of each process's local rank,
// a GPU where the machine has them, the CPU otherwise.
func (t *Train) Auto() bool { return len(t.Devices) == 1 && t.Devices[0] == "auto" }

// UsesCUDA reports whether any entry of train.devices is a GPU.
func (t *Train) UsesCUDA() bool {
	for _, s := range t.Devices {
		if d, err := ParseDevice(s); err == nil && d.CUDA {
			return true
		}
	}
	return false
}

// The values of train.precision.
const (
	PrecisionFP32 = "fp32" // IEEE float32 throughout
	PrecisionTF32 = "tf32" // matrix products on TF32 tensor cores (NVIDIA Ampere and later)
)

var precisions = []string{PrecisionFP32, PrecisionTF32}
