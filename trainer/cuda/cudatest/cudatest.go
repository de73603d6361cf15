// Package cudatest builds stand-in CUDA libraries for tests on machines without CUDA: tiny
// shared objects, compiled with the system's C compiler, under the sonames natssl looks for
// (libcuda.so.1, libcublas.so.N, libnvrtc.so.N, ...), exporting every function natssl binds
// (cuda.Symbols). A stub defines some functions for real, in C; every other one returns an
// error status. Tests load them in a child process (the dynamic loader keeps what a process
// has loaded) with NATSSL_CUDA_LIB_DIR or LD_LIBRARY_PATH pointing at them. They say nothing
// of CUDA itself: they exercise the lookup, the version rules and the errors around them.
package cudatest

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Stub is a shared object to build: Impl defines some symbols for real; every other symbol
// of Syms (but Omit) returns an error status.
type Stub struct {
	Soname string
	Syms   []string
	Impl   string
	Omit   string
	Link   []string // extra linker arguments (a dependency on a companion)
}

// Build compiles s into dir/s.Soname with gcc and returns the file's path.
func Build(t testing.TB, dir string, s Stub) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var src strings.Builder
	src.WriteString("#include <stdio.h>\n#include <stddef.h>\n#include <string.h>\n" + s.Impl + "\n")
	for _, sym := range s.Syms {
		if sym == s.Omit || regexp.MustCompile(`\b`+sym+`\s*\(`).MatchString(s.Impl) {
			continue
		}
		fmt.Fprintf(&src, "int %s(void) { return 801; }\n", sym)
	}
	c := filepath.Join(t.TempDir(), s.Soname+".c")
	if err := os.WriteFile(c, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, s.Soname)
	args := append([]string{"-shared", "-fPIC", "-o", out, "-Wl,-soname," + s.Soname, c}, s.Link...)
	if b, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %v: %v\n%s", args, err, b)
	}
	return out
}

// Driver is libcuda.so.1 of the given version (1000·major + 10·minor), whose cuInit returns
// initResult and which sees count GPUs of compute capability cc (10·major + minor), each
// with 80 GiB. syms is cuda.Symbols("driver").
func Driver(syms []string, version, initResult, count, cc int) Stub {
	return Stub{Soname: "libcuda.so.1", Syms: syms, Impl: fmt.Sprintf(`
int cuDriverGetVersion(int *v) { *v = %d; return 0; }
int cuInit(unsigned f) { (void)f; return %d; }
int cuDeviceGetCount(int *n) { *n = %d; return 0; }
int cuGetErrorName(int e, const char **s) { *s = e == 100 ? "CUDA_ERROR_NO_DEVICE" : "CUDA_ERROR_NOT_SUPPORTED"; return 0; }
int cuDeviceGet(int *d, int o) { *d = o; return 0; }
int cuDeviceGetName(char *name, int len, int d) { snprintf(name, len, "Test GPU %%d", d); return 0; }
int cuDeviceGetAttribute(int *v, int a, int d) { (void)d; *v = a == 75 ? %d : a == 76 ? %d : a == 16 ? 132 : 0; return 0; }
int cuDeviceTotalMem_v2(size_t *b, int d) { (void)d; *b = (size_t)80 << 30; return 0; }
`, version, initResult, count, cc/10, cc%10)}
}

// Contexts makes a driver stub open its devices: primary contexts, and modules that load
// whatever image they are given; free is what cuMemGetInfo reports free, in bytes.
func Contexts(s Stub, free int64) Stub {
	s.Impl += fmt.Sprintf(`
static int ctx_token;
int cuDevicePrimaryCtxRetain(void **c, int d) { (void)d; *c = &ctx_token; return 0; }
int cuDevicePrimaryCtxRelease_v2(int d) { (void)d; return 0; }
int cuCtxSetCurrent(void *c) { (void)c; return 0; }
int cuMemGetInfo_v2(size_t *f, size_t *t) { *f = (size_t)%dLL; *t = (size_t)80 << 30; return 0; }
int cuModuleLoadData(void **m, const void *image) { (void)image; *m = &ctx_token; return 0; }
int cuModuleUnload(void *m) { (void)m; return 0; }
`, free)
	return s
}

// Cublas is libcublas.so.major, version major.4.5. syms is cuda.Symbols("cublas").
func Cublas(syms []string, major int, link ...string) Stub {
	return Stub{Soname: fmt.Sprintf("libcublas.so.%d", major), Syms: syms, Link: link, Impl: fmt.Sprintf(`
int cublasGetProperty(int t, int *v) { static const int ver[] = {%d, 4, 5}; *v = ver[t]; return 0; }
`, major)}
}

// CublasLt is the cuBLASLt that cuBLAS links to.
func CublasLt(major int) Stub {
	return Stub{Soname: fmt.Sprintf("libcublasLt.so.%d", major), Impl: "int cublasLtCreate(void) { return 0; }"}
}

// NVRTC is libnvrtc.so.major, version major.4, compiling for compute capabilities 5.0, 8.0
// and 9.0. syms is cuda.Symbols("nvrtc").
func NVRTC(syms []string, major int, link ...string) Stub {
	return Stub{Soname: fmt.Sprintf("libnvrtc.so.%d", major), Syms: syms, Link: link, Impl: fmt.Sprintf(`
int nvrtcVersion(int *a, int *b) { *a = %d; *b = 4; return 0; }
const char *nvrtcGetErrorString(int r) { (void)r; return "NVRTC_ERROR_INVALID_INPUT"; }
int nvrtcGetNumSupportedArchs(int *n) { *n = 3; return 0; }
int nvrtcGetSupportedArchs(int *a) { a[0] = 50; a[1] = 80; a[2] = 90; return 0; }
`, major)}
}

// Compiling makes an NVRTC stub compile any program into an 8-byte image.
func Compiling(s Stub) Stub {
	s.Impl += `
static int prog_token;
int nvrtcCreateProgram(void **p, const char *src, const char *name, int n, const char *const *h, const char *const *i) {
	(void)src; (void)name; (void)n; (void)h; (void)i; *p = &prog_token; return 0;
}
int nvrtcCompileProgram(void *p, int n, const char *const *o) { (void)p; (void)n; (void)o; return 0; }
int nvrtcGetProgramLogSize(void *p, size_t *n) { (void)p; *n = 1; return 0; }
int nvrtcGetProgramLog(void *p, char *log) { (void)p; log[0] = 0; return 0; }
int nvrtcGetCUBINSize(void *p, size_t *n) { (void)p; *n = 8; return 0; }
int nvrtcGetCUBIN(void *p, char *out) { (void)p; memcpy(out, "cubin!!", 8); return 0; }
int nvrtcDestroyProgram(void **p) { (void)p; return 0; }
`
	return s
}

// Cudnn is libcudnn.so.9, version 9.1.0. syms is cuda.Symbols("cudnn").
func Cudnn(syms []string) Stub {
	return Stub{Soname: "libcudnn.so.9", Syms: syms, Impl: "size_t cudnnGetVersion(void) { return 90100; }"}
}

// Near fails when got differs from want by more than tol of want's largest magnitude (a
// relative bound that values near zero cannot fail by themselves); tol 0 asks for the
// same bits.
func Near(t testing.TB, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	if tol == 0 {
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] == 0 && want[i] == 0) {
				t.Fatalf("%s: [%d] = %v, want exactly %v", what, i, got[i], want[i])
			}
		}
		return
	}
	var scale float64
	for _, w := range want {
		scale = math.Max(scale, math.Abs(float64(w)))
	}
	scale = math.Max(scale, 1e-30)
	worst, at := 0.0, -1
	for i := range got {
		e := math.Abs(float64(got[i])-float64(want[i])) / scale
		if math.IsNaN(e) || e > worst {
			worst, at = e, i
		}
	}
	if at >= 0 && (worst > tol || math.IsNaN(worst)) {
		t.Fatalf("%s: [%d] = %v, want %v (error %.3g of the largest |want| %.3g, tolerance %g)",
			what, at, got[at], want[at], worst, scale, tol)
	}
}
