//go:build !cgo

package trainer

import (
	"errors"
	"fmt"

	"github.com/natssl/natssl/configs"
)

// Without cgo natssl cannot open the CUDA libraries: the CPU trains, and a cuda:N is refused.

var errNoCgo = errors.New("this natssl was built without cgo, which CUDA needs: build it with CGO_ENABLED=1")

type simulation struct{}

func openCUDA(devices []configs.Device, _, _ int, _ buildOptions) ([]backend, []replicaInput, deviceNet, error) {
	return nil, nil, nil, fmt.Errorf("trainer: %s: %w", devices[0], errNoCgo)
}

func preflight(_ configs.Model, _, _ int, devices []string, _ float64, _ buildOptions) error {
	parsed, gpus, err := parseDevices(devices)
	if err != nil || gpus == 0 {
		return err
	}
	return fmt.Errorf("trainer: %s: %w", parsed[0], errNoCgo)
}

// CheckDevices refuses a config whose train.devices names a GPU: this build has no CUDA.
func CheckDevices(cfg *configs.Config) error {
	return preflight(cfg.Model, cfg.Data.ImageSize, cfg.Data.BatchSize, cfg.Train.Devices, cfg.Train.Temperature, buildOptions{})
}

// LocalRankDevice is the CPU: this build has no CUDA.
func LocalRankDevice(rank int) (string, error) {
	if rank < 0 {
		return "", fmt.Errorf("trainer: local rank %d", rank)
	}
	return "cpu", nil
}

// DescribeCUDA says why this build has no CUDA.
func DescribeCUDA() string { return "cuda: unavailable: " + errNoCgo.Error() + "\n" }
