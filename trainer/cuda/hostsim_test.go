package cuda

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
)

// hostBackend is the host simulation's memory for the tests.
type hostBackend struct{ *HostRunner }

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

// TestHostSgemm: the simulation's products in every transposition, with leading dimensions
// wider than the matrices, against float64 sums.
func TestHostSgemm(t *testing.T) {
	b := &hostBackend{sharedHostRunner(t)}
	rng := rand.New(rand.NewPCG(5, 6))
	m, n, k := 7, 9, 5
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			lda, ldb, ldc := k+2, n+1, n+3
			if ta {
				lda = m + 1
			}
			if tb {
				ldb = k + 3
			}
			ar, br := m, k
			if ta {
				ar = k
			}
			if tb {
				br = n
			}
			a, bm, c := randVec(rng, ar*lda, 1), randVec(rng, br*ldb, 1), randVec(rng, m*ldc, 1)
			pc := put(t, b, c)
			if err := b.SgemmRowMajor(ta, tb, m, n, k, 0.5, put(t, b, a), lda, put(t, b, bm), ldb, 2, pc, ldc); err != nil {
				t.Fatal(err)
			}
			same(t, fmt.Sprintf("sgemm ta=%v tb=%v", ta, tb), b.download(t, pc, m*ldc), refGemm(ta, tb, m, n, k, 0.5, a, lda, bm, ldb, 2, c, ldc))
		}
	}
	if err := b.SgemmRowMajor(false, false, 4, 4, 4, 1, 8, 4, 8, 4, 0, 8, 4); err == nil {
		t.Error("a product over memory the simulation never allocated: no error")
	}
}

// TestHostRunnerRefuses: the simulation refuses what a GPU would get wrong silently.
func TestHostRunnerRefuses(t *testing.T) {
	h := sharedHostRunner(t)
	b := &hostBackend{h}
	x := b.alloc(t, 4)
	cases := []struct {
		name, kernel string
		block        Dim3
		args         []any
		want         string
	}{
		{"unknown kernel", "no_such_kernel", Dim3{X: 1}, nil, `no kernel "no_such_kernel"`},
		{"cooperative kernel with a short block", "lars_partial", Dim3{X: 32}, []any{x, x, int64(4), 0.0, x}, "not REDUCE_THREADS"},
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
