package trainer

import (
	"slices"
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
			defer func(f func() int) { gpuCount = f }(gpuCount)
			gpuCount = func() int { return tc.gpus }
			if got := ResolveDevices(tc.devices, tc.localRank); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
