package cuda

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The lookup tests build tiny shared objects with the C compiler, each exporting the
// symbols natssl looks up under a library's soname, and load them in a child process of
// the test binary (the dynamic loader keeps what a process has loaded, and reads
// LD_LIBRARY_PATH only at start). They test the search order, the version rules and the
// one-line errors; they say nothing of CUDA itself.

// childEnv carries a childSpec to the test binary run as a child.
const childEnv = "CUDATEST_CHILD"

type childSpec struct {
	Op     string   // load, device, describe, probe
	LibDir string   // Options.LibDir
	Sites  []string // Options.SitePackages (never discovered: the child gets no nil)
	Device int      // for device
	Probe  []string // sonames the dynamic loader is asked for, for probe
}

type childResult struct {
	Err    string
	Is     []string // the sentinels the error matches
	Libs   []Library
	Count  int
	Report string
	Found  map[string]string // probe: soname → the file the loader opened
}

func runChild(spec string) int {
	var s childSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	opts := Options{LibDir: s.LibDir, SitePackages: append([]string{}, s.Sites...)}
	var r childResult
	setErr := func(err error) {
		if err == nil {
			return
		}
		r.Err = err.Error()
		for name, e := range map[string]error{"ErrNoDriver": ErrNoDriver, "ErrNoLibrary": ErrNoLibrary,
			"ErrNoDevice": ErrNoDevice, "ErrTooOld": ErrTooOld} {
			if errors.Is(err, e) {
				r.Is = append(r.Is, name)
			}
		}
	}
	switch s.Op {
	case "load", "device":
		d, err := Load(opts)
		setErr(err)
		if d != nil {
			r.Libs, r.Count = d.Libraries(), d.DeviceCount()
			if s.Op == "device" {
				_, err := d.Device(s.Device)
				setErr(err)
			}
		}
	case "describe":
		rep := Describe(opts)
		r.Report, r.Libs = rep.String(), rep.Libraries
	case "probe":
		r.Found = map[string]string{}
		for _, so := range s.Probe {
			if l, err := dlopen(so, false); err == nil {
				l.resolve("cuInit")
				r.Found[so] = l.path
			}
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		return 2
	}
	return 0
}

// child runs spec in a fresh process with LD_LIBRARY_PATH set to ldPath ("" for none).
func child(t *testing.T, spec childSpec, ldPath string) childResult {
	t.Helper()
	js, _ := json.Marshal(spec)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LD_LIBRARY_PATH=") && !strings.HasPrefix(kv, LibDirEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, childEnv+"="+string(js))
	if ldPath != "" {
		cmd.Env = append(cmd.Env, "LD_LIBRARY_PATH="+ldPath)
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child %s: %v\n%s", js, err, out)
	}
	var r childResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("child output %q: %v", out, err)
	}
	return r
}

// stub is a shared object to build: impl defines some symbols for real; every other symbol
// of syms (but omit) returns an error status.
type stub struct {
	soname string
	syms   []string
	impl   string
	omit   string
	link   []string // extra linker arguments (a dependency on a companion)
}

func buildStub(t *testing.T, dir string, s stub) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var src strings.Builder
	src.WriteString("#include <stdio.h>\n#include <stddef.h>\n" + s.impl + "\n")
	for _, sym := range s.syms {
		if sym == s.omit || regexp.MustCompile(`\b`+sym+`\s*\(`).MatchString(s.impl) {
			continue
		}
		fmt.Fprintf(&src, "int %s(void) { return 801; }\n", sym)
	}
	c := filepath.Join(t.TempDir(), s.soname+".c")
	if err := os.WriteFile(c, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, s.soname)
	args := append([]string{"-shared", "-fPIC", "-o", out, "-Wl,-soname," + s.soname, c}, s.link...)
	if b, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %v: %v\n%s", args, err, b)
	}
	return out
}

// driverStub is libcuda.so.1 of the given version, whose cuInit returns initResult and
// which sees count GPUs of compute capability cc (10·major + minor).
func driverStub(version, initResult, count, cc int) stub {
	return stub{soname: "libcuda.so.1", syms: driverSymbols(), impl: fmt.Sprintf(`
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

func cublasStub(major int, link ...string) stub {
	return stub{soname: fmt.Sprintf("libcublas.so.%d", major), syms: cublasSymbols(), link: link, impl: fmt.Sprintf(`
int cublasGetProperty(int t, int *v) { static const int ver[] = {%d, 4, 5}; *v = ver[t]; return 0; }
`, major)}
}

func cublasLtStub(major int) stub {
	return stub{soname: fmt.Sprintf("libcublasLt.so.%d", major), impl: "int cublasLtCreate(void) { return 0; }"}
}

func nvrtcStub(major int, link ...string) stub {
	return stub{soname: fmt.Sprintf("libnvrtc.so.%d", major), syms: nvrtcSymbols(), link: link, impl: fmt.Sprintf(`
int nvrtcVersion(int *a, int *b) { *a = %d; *b = 4; return 0; }
const char *nvrtcGetErrorString(int r) { (void)r; return "NVRTC_ERROR_INVALID_INPUT"; }
int nvrtcGetNumSupportedArchs(int *n) { *n = 3; return 0; }
int nvrtcGetSupportedArchs(int *a) { a[0] = 50; a[1] = 80; a[2] = 90; return 0; }
`, major)}
}

func cudnnStub() stub {
	return stub{soname: "libcudnn.so.9", syms: cudnnSymbols(), impl: "size_t cudnnGetVersion(void) { return 90100; }"}
}

// fullSet builds a driver of the given version and cuBLAS and NVRTC of major into dir.
func fullSet(t *testing.T, dir string, version, major int) {
	buildStub(t, dir, driverStub(version, 0, 1, 90))
	buildStub(t, dir, cublasStub(major))
	buildStub(t, dir, nvrtcStub(major))
}

func lib(r childResult, name string) (Library, bool) {
	i := slices.IndexFunc(r.Libs, func(l Library) bool { return l.Name == name })
	if i < 0 {
		return Library{}, false
	}
	return r.Libs[i], true
}

func wantErr(t *testing.T, r childResult, is string, parts ...string) {
	t.Helper()
	if r.Err == "" {
		t.Fatalf("no error; libraries %+v", r.Libs)
	}
	if strings.Contains(r.Err, "\n") {
		t.Errorf("error is not one line: %q", r.Err)
	}
	if is != "" && !slices.Contains(r.Is, is) {
		t.Errorf("error %q is not %s (is %v)", r.Err, is, r.Is)
	}
	for _, p := range parts {
		if !strings.Contains(r.Err, p) {
			t.Errorf("error %q lacks %q", r.Err, p)
		}
	}
}

func wantLib(t *testing.T, r childResult, name, from, path, version string) {
	t.Helper()
	if r.Err != "" {
		t.Fatalf("error: %s", r.Err)
	}
	l, ok := lib(r, name)
	if !ok {
		t.Fatalf("%s not loaded: %+v", name, r.Libs)
	}
	if l.From != from || l.Path != path || l.Version != version {
		t.Errorf("%s = %+v, want from %s, path %s, version %s", name, l, from, path, version)
	}
}
