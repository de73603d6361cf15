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

func openCUDA(devices []configs.Device, _ int, _ []viewGroup, _ buildOptions) ([]backend, []replicaInput, deviceNet, error) {
	return nil, nil, nil, fmt.Errorf("trainer: %s: %w", devices[0], errNoCgo)
}

func preflight(spec netSpec, _ int, _ buildOptions) error {
	parsed, gpus, err := parseDevices(spec.devices)
	if err != nil || gpus == 0 {
		return err
	}
	return fmt.Errorf("trainer: %s: %w", parsed[0], errNoCgo)
}

// DescribeCUDA says why this build has no CUDA.
func DescribeCUDA() string { return "cuda: unavailable: " + errNoCgo.Error() + "\n" }
