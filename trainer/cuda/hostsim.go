package cuda

/*
#include <stdlib.h>
#include "capi.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// HostRunner runs natssl's kernels on the CPU: KernelSource built by the system's C++
// compiler through kernels/host_shim.h, every launch's grid run block by block. It exists to
// check the kernels (and code that launches them) against the CPU ops where there is no
// GPU; it is much slower than the CPU ops. Its memory is host memory that ends at an
// inaccessible page, so that a kernel writing or reading past the end of a buffer faults.
type HostRunner struct {
	lib *library

	mu     sync.Mutex
	fns    map[string]unsafe.Pointer
	allocs []hostAlloc
}

type hostAlloc struct {
	base  unsafe.Pointer
	start DevicePtr
	bytes int64
}

// NewHostRunner compiles the kernels for the CPU in dir with the C++ compiler cxx ("" for
// $CXX, else g++) and loads them.
func NewHostRunner(ctx context.Context, cxx, dir string) (*HostRunner, error) {
	return newHostRunner(ctx, cxx, dir, KernelSource())
}

// newHostRunner builds the simulation of src (KernelSource, or a test's variant).
func newHostRunner(ctx context.Context, cxx, dir, src string) (*HostRunner, error) {
	if cxx == "" {
		cxx = os.Getenv("CXX")
	}
	if cxx == "" {
		cxx = "g++"
	}
	var main strings.Builder
	main.WriteString("#include \"host_shim.h\"\n#include \"kernels.cu\"\n#include \"host_sim.h\"\n")
	for _, k := range parseKernels(src) {
		fmt.Fprintf(&main, "extern \"C\" int natssl_sim_%s(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, void **p) {\n"+
			"\treturn natssl_sim::launch(%s, %v, %q, dim3{gx, gy, gz}, dim3{bx, by, bz}, p);\n}\n", k.name, k.name, k.coop, k.name)
	}
	sim, err := kernelFiles.ReadFile("kernels/host_sim.h")
	if err != nil {
		return nil, fmt.Errorf("cuda: host simulation: %w", err)
	}
	files := map[string]string{"host_shim.h": hostShim(), "host_sim.h": string(sim), "kernels.cu": src, "sim.cpp": main.String()}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return nil, fmt.Errorf("cuda: host simulation: %w", err)
		}
	}
	so := filepath.Join(dir, "natssl_kernels_sim.so")
	cmd := exec.CommandContext(ctx, cxx, HostCompileFlags(filepath.Join(dir, "sim.cpp"), so)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("cuda: host simulation: %s: %w\n%s", cxx, err, out)
	}
	lib, err := dlopen(so, false)
	if err != nil {
		return nil, fmt.Errorf("cuda: host simulation: load %s: %w", so, err)
	}
	return &HostRunner{lib: lib, fns: map[string]unsafe.Pointer{}}, nil
}

// HostCompileFlags are the C++ compiler's arguments that build src into the shared object
// out: warnings as errors, and no fused multiply-adds, so that the CPU does each operation as
// written.
func HostCompileFlags(src, out string) []string {
	return []string{"-std=c++17", "-O1", "-g", "-fPIC", "-shared", "-pthread", "-ffp-contract=off",
		"-Wall", "-Wextra", "-Werror", "-o", out, src}
}

// Close unloads the kernels and frees the memory still allocated.
func (h *HostRunner) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range h.allocs {
		C.ncu_guarded_free(a.base, C.size_t(a.bytes))
	}
	h.allocs = nil
	h.lib.close()
	return nil
}

// Run launches kernel on the CPU (Runner).
func (h *HostRunner) Run(kernel string, grid, block Dim3, args ...any) error {
	h.mu.Lock()
	fn, ok := h.fns[kernel]
	if !ok {
		if fn = h.lib.sym("natssl_sim_" + kernel); fn == nil {
			h.mu.Unlock()
			return fmt.Errorf("no kernel %q", kernel)
		}
		h.fns[kernel] = fn
	}
	h.mu.Unlock()
	var slots [C.NCU_MAX_ARGS]C.uint64_t
	if err := marshal(args, slots[:]); err != nil {
		return err
	}
	g, b := grid.norm(), block.norm()
	if g.X*g.Y*g.Z == 0 || b.X*b.Y*b.Z == 0 {
		return fmt.Errorf("empty launch %v×%v", g, b)
	}
	if C.ncu_sim_launch(fn, C.uint(g.X), C.uint(g.Y), C.uint(g.Z), C.uint(b.X), C.uint(b.Y), C.uint(b.Z), &slots[0], C.int(len(args))) != 0 {
		return errors.New(C.GoString(C.ncu_sim_error(h.lib.sym("natssl_sim_error"))))
	}
	return nil
}

// Alloc allocates bytes of guarded host memory, zeroed.
func (h *HostRunner) Alloc(bytes int64) (DevicePtr, error) {
	if bytes <= 0 {
		return 0, fmt.Errorf("cuda: host simulation: alloc %d bytes", bytes)
	}
	p := C.ncu_guarded_alloc(C.size_t(bytes))
	if p == nil {
		return 0, fmt.Errorf("cuda: host simulation: alloc %d bytes: out of memory", bytes)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	a := hostAlloc{base: p, start: DevicePtr(uintptr(p)), bytes: bytes}
	h.allocs = append(h.allocs, a)
	return a.start, nil
}

// Free releases memory from Alloc.
func (h *HostRunner) Free(p DevicePtr) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, a := range h.allocs {
		if a.start == p {
			C.ncu_guarded_free(a.base, C.size_t(a.bytes))
			h.allocs = append(h.allocs[:i], h.allocs[i+1:]...)
			return
		}
	}
}

// mem returns the host memory of bytes at p, which must lie inside one allocation.
func (h *HostRunner) mem(p DevicePtr, bytes int64) (unsafe.Pointer, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range h.allocs {
		if p >= a.start && int64(p-a.start)+bytes <= a.bytes {
			return unsafe.Add(a.base, int(p-a.start)), nil
		}
	}
	return nil, fmt.Errorf("cuda: host simulation: %d bytes at %#x are not allocated", bytes, uint64(p))
}

// Upload copies src to p.
func (h *HostRunner) Upload(p DevicePtr, src []float32) error {
	m, err := h.mem(p, 4*int64(len(src)))
	if err != nil || len(src) == 0 {
		return err
	}
	copy(unsafe.Slice((*float32)(m), len(src)), src)
	return nil
}

// Download copies len(dst) floats from p.
func (h *HostRunner) Download(dst []float32, p DevicePtr) error {
	m, err := h.mem(p, 4*int64(len(dst)))
	if err != nil || len(dst) == 0 {
		return err
	}
	copy(dst, unsafe.Slice((*float32)(m), len(dst)))
	return nil
}

// DownloadInt32 copies len(dst) int32s from p.
func (h *HostRunner) DownloadInt32(dst []int32, p DevicePtr) error {
	m, err := h.mem(p, 4*int64(len(dst)))
	if err != nil || len(dst) == 0 {
		return err
	}
	copy(dst, unsafe.Slice((*int32)(m), len(dst)))
	return nil
}

// SgemmRowMajor is the row-major product of cuBLAS's Gemm on the simulation's memory, by
// gonum's BLAS: the host simulation stands in for a GPU stream with its cuBLAS handle.
func (h *HostRunner) SgemmRowMajor(transA, transB bool, m, n, k int, alpha float32, a DevicePtr, lda int,
	b DevicePtr, ldb int, beta float32, c DevicePtr, ldc int) error {
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if m == 0 || n == 0 {
		return nil
	}
	var err error
	view := func(p DevicePtr, rows, cols, ld int) blas32.General {
		if err != nil || rows == 0 || cols == 0 {
			return blas32.General{Rows: rows, Cols: cols, Stride: max(ld, 1)}
		}
		var mem unsafe.Pointer
		n := (rows-1)*ld + cols
		if mem, err = h.mem(p, 4*int64(n)); err != nil {
			return blas32.General{}
		}
		return blas32.General{Rows: rows, Cols: cols, Stride: ld, Data: unsafe.Slice((*float32)(mem), n)}
	}
	ma, mb, mc := view(a, ar, ac, lda), view(b, br, bc, ldb), view(c, m, n, ldc)
	if err != nil {
		return fmt.Errorf("cuda: host simulation: sgemm: %w", err)
	}
	if k == 0 {
		// gonum refuses empty operands; C = beta·C then.
		for i := 0; i < m; i++ {
			row := mc.Data[i*ldc : i*ldc+n]
			for j := range row {
				row[j] *= beta
			}
		}
		return nil
	}
	tr := func(t bool) blas.Transpose {
		if t {
			return blas.Trans
		}
		return blas.NoTrans
	}
	blas32.Gemm(tr(transA), tr(transB), alpha, ma, mb, beta, mc)
	return nil
}

// SetTF32 does nothing: the simulation multiplies in float32.
func (h *HostRunner) SetTF32(bool) error { return nil }

var _ Gemm = (*HostRunner)(nil)
