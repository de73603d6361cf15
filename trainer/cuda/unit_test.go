package cuda

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestMarshal: kernel arguments land in 8-byte slots as cuLaunchKernel reads them (4-byte
// values in the low half, little-endian).
func TestMarshal(t *testing.T) {
	slots := make([]uint64, 10)
	args := []any{DevicePtr(0x7f0000001000), int32(-2), uint32(7), 5, int64(-3), uint64(9), float32(1.5), 0.25, true, false}
	if err := marshal(args, slots); err != nil {
		t.Fatal(err)
	}
	want := []uint64{0x7f0000001000, 0xfffffffe, 7, 5, uint64(math.MaxUint64 - 2), 9,
		uint64(math.Float32bits(1.5)), math.Float64bits(0.25), 1, 0}
	if !slices.Equal(slots, want) {
		t.Fatalf("slots %x, want %x", slots, want)
	}
	for _, c := range []struct {
		args []any
		want string
	}{
		{[]any{1 << 31}, "does not fit an int"},
		{[]any{"x"}, "unsupported type string"},
		{[]any{[]float32{1}}, "unsupported type []float32"},
		{make([]any, 11), "11 arguments, at most 10"},
	} {
		if err := marshal(c.args, slots); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want %q", c.args, err, c.want)
		}
	}
}

// TestTarget: a CUBIN for an architecture NVRTC knows, PTX of the newest one below for a
// newer device, and an error for a device older than NVRTC supports.
func TestTarget(t *testing.T) {
	n := &nvrtcLib{info: Library{Version: "12.4"}, archs: []int{50, 52, 60, 70, 75, 80, 86, 89, 90}}
	for _, c := range []struct {
		cc   int
		want target
		err  string
	}{
		{90, target{arch: "sm_90"}, ""},
		{86, target{arch: "sm_86"}, ""},
		{100, target{arch: "compute_90", ptx: true}, ""},
		{87, target{arch: "compute_86", ptx: true}, ""},
		{37, target{}, "compute capability 3.7 is too old for NVRTC 12.4 (oldest 5.0)"},
	} {
		got, err := n.target(c.cc)
		if c.err != "" {
			if err == nil || err.Error() != c.err || !errors.Is(err, ErrTooOld) {
				t.Errorf("cc %d: got %v, want %q", c.cc, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("cc %d: got %+v %v, want %+v", c.cc, got, err, c.want)
		}
	}
}

// TestMemoryError: an allocation failure carries the sizes and matches ErrOutOfMemory, as
// does an out-of-memory status of the driver or cuBLAS.
func TestMemoryError(t *testing.T) {
	cause := &Error{Lib: "driver", Op: "cuMemAlloc", Code: cudaErrorOutOfMemory, Name: "CUDA_ERROR_OUT_OF_MEMORY"}
	err := fmt.Errorf("step: %w", &MemoryError{Device: 1, Requested: 3 << 30, Free: 1 << 29, Total: 80 << 30, Err: cause})
	if !errors.Is(err, ErrOutOfMemory) {
		t.Error("not ErrOutOfMemory")
	}
	var me *MemoryError
	if !errors.As(err, &me) || me.Requested != 3<<30 {
		t.Error("no MemoryError")
	}
	if got, want := err.Error(), "step: cuda:1: out of device memory: 3.00 GiB requested, 512.0 MiB free of 80.00 GiB"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
	for _, c := range []struct {
		e    *Error
		want bool
	}{
		{cause, true},
		{&Error{Lib: "cublas", Op: "cublasCreate", Code: cublasStatusAllocFail}, true},
		{&Error{Lib: "driver", Op: "cuLaunchKernel", Code: 700}, false},
		{&Error{Lib: "nvrtc", Op: "nvrtcCompileProgram", Code: 2}, false},
	} {
		if errors.Is(c.e, ErrOutOfMemory) != c.want {
			t.Errorf("%v: Is(ErrOutOfMemory) != %v", c.e, c.want)
		}
	}
}

// TestFindSitePackages: the active virtual environment's and the user's site-packages are
// found, those that exist only, each once.
func TestFindSitePackages(t *testing.T) {
	venv, home := t.TempDir(), t.TempDir()
	vsite := filepath.Join(venv, "lib", "python3.12", "site-packages")
	usite := filepath.Join(home, ".local", "lib", "python3.11", "site-packages")
	for _, d := range []string{vsite, usite} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("VIRTUAL_ENV", venv)
	t.Setenv("HOME", home)
	t.Setenv("CONDA_PREFIX", filepath.Join(home, "no-such-conda"))
	got := FindSitePackages(t.Context())
	for _, want := range []string{vsite, usite} {
		if !slices.Contains(got, want) {
			t.Errorf("%s not in %v", want, got)
		}
	}
	seen := map[string]bool{}
	for _, d := range got {
		if seen[d] {
			t.Errorf("%s twice", d)
		}
		seen[d] = true
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			t.Errorf("%s is not a folder", d)
		}
	}
}
