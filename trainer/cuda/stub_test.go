package cuda

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/natssl/natssl/trainer/cuda/cudatest"
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

// stub and buildStub are package cudatest's, which the trainer's tests share.
type stub = cudatest.Stub

func buildStub(t *testing.T, dir string, s stub) string { return cudatest.Build(t, dir, s) }

func driverStub(version, initResult, count, cc int) stub {
	return cudatest.Driver(Symbols("driver"), version, initResult, count, cc)
}

func cublasStub(major int, link ...string) stub {
	return cudatest.Cublas(Symbols("cublas"), major, link...)
}

func cublasLtStub(major int) stub { return cudatest.CublasLt(major) }

func nvrtcStub(major int, link ...string) stub {
	return cudatest.NVRTC(Symbols("nvrtc"), major, link...)
}

func cudnnStub() stub { return cudatest.Cudnn(Symbols("cudnn")) }

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
