package trainer

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestResolveDevices: auto is the CPU in a build or on a machine without GPUs, and the GPU of
// the local rank (modulo the GPUs) where there are; other devices stay as they are.
func TestResolveDevices(t *testing.T) {
	for _, tc := range []struct {
		name      string
		gpus      int
		devices   []string
		localRank int
		want      []string
	}{
		{"no GPU", 0, []string{"auto"}, 3, []string{"cpu"}},
		{"rank 3 of a 4-GPU machine", 4, []string{"auto"}, 3, []string{"cuda:3"}},
		{"more ranks than GPUs", 2, []string{"auto"}, 3, []string{"cuda:1"}},
		{"a list", 4, []string{"cpu", "cuda:1"}, 1, []string{"cpu", "cuda:1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func(f func() (int, error)) { gpuCount = f }(gpuCount)
			gpuCount = func() (int, error) { return tc.gpus, nil }
			got, err := ResolveDevices(tc.devices, tc.localRank)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// TestResolveDevicesRefuses: auto where the GPUs cannot be counted (a driver without its
// libraries) is an error naming train.devices, not the CPU; a negative local rank too.
func TestResolveDevicesRefuses(t *testing.T) {
	defer func(f func() (int, error)) { gpuCount = f }(gpuCount)
	gpuCount = func() (int, error) { return 0, errors.New("cuda: cublas: CUDA library not found") }
	if got, err := ResolveDevices([]string{"auto"}, 0); err == nil || !strings.Contains(err.Error(), "trainer: train.devices auto: cuda: cublas") {
		t.Errorf("got %v, %v", got, err)
	}
	if got, err := ResolveDevices([]string{"cpu", "cpu"}, 0); err != nil || !slices.Equal(got, []string{"cpu", "cpu"}) {
		t.Errorf("a list without auto: got %v, %v", got, err)
	}
	gpuCount = func() (int, error) { return 2, nil }
	if got, err := ResolveDevices([]string{"auto"}, -1); err == nil {
		t.Errorf("local rank -1: got %v", got)
	}
}
