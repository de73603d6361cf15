package cuda

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
)

// hostBackend runs the op checks on the host simulation.
type hostBackend struct {
	*HostRunner
	mu       sync.Mutex
	launched map[string]bool
}

func (b *hostBackend) Run(kernel string, grid, block Dim3, args ...any) error {
	b.mu.Lock()
	b.launched[kernel] = true
	b.mu.Unlock()
	return b.HostRunner.Run(kernel, grid, block, args...)
}

func (b *hostBackend) name() string { return "host simulation" }
func (b *hostBackend) exact() bool  { return true }
func (b *hostBackend) gemm() Gemm   { return hostGemm{b.HostRunner} }

func (b *hostBackend) alloc(t *testing.T, n int) DevicePtr {
	t.Helper()
	p, err := b.Alloc(4 * int64(max(n, 1)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Free(p) })
	return p
}

func (b *hostBackend) upload(t *testing.T, p DevicePtr, x []float32) {
	t.Helper()
	if err := b.Upload(p, x); err != nil {
		t.Fatal(err)
	}
}

func (b *hostBackend) download(t *testing.T, p DevicePtr, n int) []float32 {
	t.Helper()
	x := make([]float32, n)
	if err := b.Download(x, p); err != nil {
		t.Fatal(err)
	}
	return x
}

func (b *hostBackend) downloadInt32(t *testing.T, p DevicePtr, n int) []int32 {
	t.Helper()
	x := make([]int32, n)
	if err := b.DownloadInt32(x, p); err != nil {
		t.Fatal(err)
	}
	return x
}

var (
	hostOnce sync.Once
	hostRun  *HostRunner
	hostErr  error
	hostDir  string
)

// sharedHostRunner compiles the simulation once for the package's tests.
func sharedHostRunner(t *testing.T) *HostRunner {
	t.Helper()
	hostOnce.Do(func() {
		var err error
		if hostDir, err = osMkdirTemp(); err != nil {
			hostErr = err
			return
		}
		hostRun, hostErr = NewHostRunner(context.Background(), "", hostDir)
	})
	if hostErr != nil {
		t.Fatal(hostErr)
	}
	return hostRun
}

// TestKernelsOnHost runs every kernel, through the op functions the trainer calls, on the
// CPU against the trainer's maths, and checks that every kernel the source defines was run.
func TestKernelsOnHost(t *testing.T) {
	b := &hostBackend{HostRunner: sharedHostRunner(t), launched: map[string]bool{}}
	runOpChecks(t, b)
	if t.Failed() {
		return
	}
	var missed []string
	for _, k := range KernelNames() {
		if !b.launched[k] {
			missed = append(missed, k)
		}
	}
	if len(missed) > 0 {
		t.Errorf("kernels no check launches: %s", strings.Join(missed, ", "))
	}
}

// TestHostRunnerRefuses: the simulation refuses what a GPU would get wrong silently.
func TestHostRunnerRefuses(t *testing.T) {
	h := sharedHostRunner(t)
	b := &hostBackend{HostRunner: h, launched: map[string]bool{}}
	x := b.alloc(t, 4)
	cases := []struct {
		name, kernel string
		block        Dim3
		args         []any
		want         string
	}{
		{"unknown kernel", "no_such_kernel", Dim3{X: 1}, nil, `no kernel "no_such_kernel"`},
		{"cooperative kernel with a short block", "ntxent_loss", Dim3{X: 32}, []any{x, x, 4}, "not REDUCE_THREADS"},
		{"argument of an unsupported type", "fill", Dim3{X: 1}, []any{x, "3", int64(4)}, "unsupported type string"},
		{"int out of range", "bias_rows", Dim3{X: 1}, []any{x, x, 1 << 40, 1}, "does not fit an int"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := h.Run(c.kernel, Dim3{X: 1}, c.block, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
	if err := h.Upload(x.At(3), []float32{1, 2}); err == nil {
		t.Error("upload past the end of an allocation: no error")
	}
}

// TestSimRefusesUndeclaredSync: a kernel that synchronises without declaring
// __launch_bounds__ is an error in the simulation, not a silent sequential run.
func TestSimRefusesUndeclaredSync(t *testing.T) {
	h := buildHostRunner(t, "#define REDUCE_THREADS 256\n"+
		"extern \"C\" __global__ void undeclared(float *x) { x[threadIdx.x] = 1.0f; __syncthreads(); }\n")
	p, err := h.Alloc(4 * reduceThreads)
	if err != nil {
		t.Fatal(err)
	}
	err = h.Run("undeclared", Dim3{X: 1}, Dim3{X: reduceThreads}, p)
	if err == nil || !strings.Contains(err.Error(), "undeclared calls __syncthreads but is not declared") {
		t.Fatalf("got %v", err)
	}
}

// buildHostRunner builds the simulation of src, a variant of KernelSource.
func buildHostRunner(t *testing.T, src string) *HostRunner {
	t.Helper()
	h, err := newHostRunner(context.Background(), "", t.TempDir(), src)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func osMkdirTemp() (string, error) { return os.MkdirTemp("", "natssl-cuda-sim-") }
