//go:build cgo

package trainer

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/natssl/natssl/trainer/cuda"
)

// The CUDA backend is checked on two targets with the same tests: the host simulation of
// the kernels (cuda.HostRunner: the same CUDA C compiled for the CPU, products by gonum),
// which runs everywhere, and a real GPU, which the tests named TestGPU use and skip without
// (scripts/gpu-check.sh runs them from a test binary built here).

// target is where a check of the CUDA backend runs.
type backendTarget struct {
	name string
	sim  *simulation // nil: the GPU
}

var (
	simOnce   sync.Once
	simRunner *cuda.HostRunner
	simErr    error
	simDir    string
	simGPUs   *simulation
)

// simTarget is the host simulation, standing in for two GPUs; the test binary compiles it
// once.
func simTarget(t testing.TB) backendTarget {
	t.Helper()
	simOnce.Do(func() {
		if simDir, simErr = os.MkdirTemp("", "natssl-trainer-sim-"); simErr != nil {
			return
		}
		if simRunner, simErr = cuda.NewHostRunner(context.Background(), "", simDir); simErr == nil {
			simGPUs = &simulation{h: simRunner, devices: 2}
		}
	})
	if simErr != nil {
		t.Fatal(simErr)
	}
	return backendTarget{name: "host simulation", sim: simGPUs}
}

// closeSim removes the simulation when the tests are done (TestMain).
func closeSim() {
	if simRunner != nil {
		simRunner.Close()
	}
	if simDir != "" {
		os.RemoveAll(simDir)
	}
}

// gpuTarget is cuda:0, or a skip saying why there is none: no driver, or no GPU. A GPU
// whose libraries are missing or too old fails the test.
func gpuTarget(t testing.TB) backendTarget {
	t.Helper()
	drv, err := cudaDriver()
	switch {
	case errors.Is(err, cuda.ErrNoDriver):
		t.Skipf("no GPU here: %v", err)
	case err != nil:
		t.Fatal(err)
	case drv.DeviceCount() == 0:
		t.Skip("no GPU here: the CUDA driver sees none")
	}
	return backendTarget{name: "cuda:0"}
}

// gpus is how many GPUs the target has.
func (tg backendTarget) gpus() int {
	if tg.sim != nil {
		return tg.sim.devices
	}
	drv, _ := cudaDriver()
	return drv.DeviceCount()
}

// opts are the build options that put a net's cuda:N devices on the target.
func (tg backendTarget) opts(optimizer string) buildOptions {
	return buildOptions{gpu: gpuOptions{sim: tg.sim, optimizer: optimizer, precision: "fp32"}}
}

// backend returns a CUDA backend on the target's first GPU, closed when the test ends.
func (tg backendTarget) backend(t testing.TB) *cudaBackend {
	t.Helper()
	q, err := openQueue(0, gpuOptions{sim: tg.sim}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.close() })
	return newCUDABackend(q, &gpuDevice{q: q, params: map[*param]*devValue{}})
}

// put copies x to new device memory of b.
func put(t testing.TB, b *cudaBackend, x []float32) mem {
	t.Helper()
	m := b.alloc(len(x))
	if err := b.q.sync(); err != nil { // the allocation's zeroing first
		t.Fatal(err)
	}
	b.hostWrite(m, x)
	if err := b.err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// get copies m to the host.
func get(t testing.TB, b *cudaBackend, m mem) []float32 {
	t.Helper()
	var out []float32
	b.hostView(m, &out)
	if err := b.err(); err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), out...)
}
