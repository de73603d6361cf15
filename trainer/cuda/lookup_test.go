package cuda

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	systemOnce sync.Once
	system     map[string]string
)

// systemLibs is what this machine's dynamic loader finds by itself: on a machine with a
// CUDA driver the cases that arrange a library's absence expect to find that one instead.
func systemLibs(t *testing.T) map[string]string {
	systemOnce.Do(func() {
		system = child(t, childSpec{Op: "probe", Probe: []string{"libcuda.so.1", "libcublas.so.13",
			"libcublas.so.12", "libnvrtc.so.13", "libnvrtc.so.12", "libcudnn.so.9"}}, "").Found
	})
	return system
}

// TestLookupOrder: NATSSL_CUDA_LIB_DIR first, then the dynamic loader's paths, then the
// nvidia/*/lib folders of site-packages; each library says where it came from.
func TestLookupOrder(t *testing.T) {
	tmp := t.TempDir()
	dirA, dirB := filepath.Join(tmp, "a"), filepath.Join(tmp, "b")
	fullSet(t, dirA, 12040, 12)
	fullSet(t, dirB, 12040, 12)
	site := filepath.Join(tmp, "site-packages")
	buildStub(t, filepath.Join(site, "nvidia", "cublas", "lib"), cublasStub(12))
	buildStub(t, filepath.Join(site, "nvidia", "cuda_nvrtc", "lib"), nvrtcStub(12))

	t.Run("NATSSL_CUDA_LIB_DIR", func(t *testing.T) {
		r := child(t, childSpec{Op: "load", LibDir: dirA, Sites: []string{site}}, "")
		wantLib(t, r, "driver", FromLibDir, filepath.Join(dirA, "libcuda.so.1"), "12.4")
		wantLib(t, r, "cublas", FromLibDir, filepath.Join(dirA, "libcublas.so.12"), "12.4.5")
		wantLib(t, r, "nvrtc", FromLibDir, filepath.Join(dirA, "libnvrtc.so.12"), "12.4")
		if r.Count != 1 {
			t.Errorf("device count %d, want 1", r.Count)
		}
	})
	t.Run("NATSSL_CUDA_LIB_DIR before the loader", func(t *testing.T) {
		r := child(t, childSpec{Op: "load", LibDir: dirA, Sites: []string{site}}, dirB)
		wantLib(t, r, "cublas", FromLibDir, filepath.Join(dirA, "libcublas.so.12"), "12.4.5")
	})
	t.Run("the loader", func(t *testing.T) {
		r := child(t, childSpec{Op: "load", Sites: []string{site}}, dirB)
		wantLib(t, r, "driver", FromLoader, filepath.Join(dirB, "libcuda.so.1"), "12.4")
		wantLib(t, r, "cublas", FromLoader, filepath.Join(dirB, "libcublas.so.12"), "12.4.5")
	})
	t.Run("site-packages after the loader", func(t *testing.T) {
		onlyDriver := filepath.Join(tmp, "driver-only")
		buildStub(t, onlyDriver, driverStub(12040, 0, 1, 90))
		r := child(t, childSpec{Op: "load", Sites: []string{filepath.Join(tmp, "empty"), site}}, onlyDriver)
		if sys := systemLibs(t)["libcublas.so.12"]; sys != "" {
			l, _ := lib(r, "cublas")
			wantLib(t, r, "cublas", FromLoader, sys, l.Version)
			return
		}
		wantLib(t, r, "cublas", FromPython, filepath.Join(site, "nvidia", "cublas", "lib", "libcublas.so.12"), "12.4.5")
		wantLib(t, r, "nvrtc", FromPython, filepath.Join(site, "nvidia", "cuda_nvrtc", "lib", "libnvrtc.so.12"), "12.4")
	})
}

// TestLookupCompanions: pip's cuBLAS needs the cuBLASLt beside it and NVRTC its builtins;
// the stubs here need them as the real ones do (DT_NEEDED, without RUNPATH), so they load
// only if the lookup loads the companion from the same folder first.
func TestLookupCompanions(t *testing.T) {
	tmp := t.TempDir()
	driver := filepath.Join(tmp, "driver")
	buildStub(t, driver, driverStub(13000, 0, 1, 90))
	site := filepath.Join(tmp, "site-packages")
	libs := filepath.Join(site, "nvidia", "cu13", "lib") // the CUDA 13 wheels' single folder
	buildStub(t, libs, cublasLtStub(13))
	buildStub(t, libs, cublasStub(13, "-L"+libs, "-Wl,--no-as-needed", "-l:libcublasLt.so.13"))
	buildStub(t, libs, stub{Soname: "libnvrtc-builtins.so.13.0", Impl: "int nvrtcBuiltins(void) { return 0; }"})
	buildStub(t, libs, nvrtcStub(13, "-L"+libs, "-Wl,--no-as-needed", "-l:libnvrtc-builtins.so.13.0"))
	r := child(t, childSpec{Op: "load", LibDir: driver, Sites: []string{site}}, "")
	if sys := systemLibs(t); sys["libcublas.so.13"] != "" || sys["libnvrtc.so.13"] != "" {
		t.Logf("this machine's loader finds CUDA 13 libraries itself: %v", sys)
		return
	}
	wantLib(t, r, "cublas", FromPython, filepath.Join(libs, "libcublas.so.13"), "13.4.5")
	wantLib(t, r, "nvrtc", FromPython, filepath.Join(libs, "libnvrtc.so.13"), "13.4")

	// Without the companion the library is found but not loadable, and the error says why.
	if err := os.Remove(filepath.Join(libs, "libcublasLt.so.13")); err != nil {
		t.Fatal(err)
	}
	r = child(t, childSpec{Op: "load", LibDir: driver, Sites: []string{site}}, "")
	wantErr(t, r, "ErrNoLibrary", "libcublas.so.13, libcublas.so.12 not found", "found but not loadable",
		filepath.Join(libs, "libcublas.so.13")+": libcublasLt.so.13")
}

// TestLookupVersions: a driver runs libraries of its own major version or older, newest
// first; a driver older than 12.0 is refused.
func TestLookupVersions(t *testing.T) {
	tmp := t.TempDir()
	both := func(name string, driver int) string {
		dir := filepath.Join(tmp, name)
		buildStub(t, dir, driverStub(driver, 0, 1, 90))
		for _, m := range []int{12, 13} {
			buildStub(t, dir, cublasStub(m))
			buildStub(t, dir, nvrtcStub(m))
		}
		return dir
	}
	t.Run("driver 13 takes CUDA 13 libraries", func(t *testing.T) {
		dir := both("13", 13000)
		r := child(t, childSpec{Op: "load", LibDir: dir, Sites: []string{}}, "")
		wantLib(t, r, "cublas", FromLibDir, filepath.Join(dir, "libcublas.so.13"), "13.4.5")
		wantLib(t, r, "nvrtc", FromLibDir, filepath.Join(dir, "libnvrtc.so.13"), "13.4")
	})
	t.Run("driver 12 takes CUDA 12 libraries", func(t *testing.T) {
		dir := both("12", 12080)
		r := child(t, childSpec{Op: "load", LibDir: dir, Sites: []string{}}, "")
		wantLib(t, r, "cublas", FromLibDir, filepath.Join(dir, "libcublas.so.12"), "12.4.5")
	})
	t.Run("driver 12 with CUDA 13 libraries only", func(t *testing.T) {
		dir := filepath.Join(tmp, "12-only-13")
		buildStub(t, dir, driverStub(12080, 0, 1, 90))
		buildStub(t, dir, cublasStub(13))
		r := child(t, childSpec{Op: "load", LibDir: dir, Sites: []string{}}, "")
		if systemLibs(t)["libcublas.so.12"] != "" {
			return
		}
		wantErr(t, r, "ErrNoLibrary", "cuda: cublas:", "libcublas.so.12 not found",
			"libcublas.so.13 not tried: driver 12.8 runs CUDA 12 libraries at most")
	})
	t.Run("driver too old", func(t *testing.T) {
		dir := filepath.Join(tmp, "11")
		fullSet(t, dir, 11080, 12)
		r := child(t, childSpec{Op: "load", LibDir: dir, Sites: []string{}}, "")
		wantErr(t, r, "ErrTooOld", "cuda: driver 11.8 ("+filepath.Join(dir, "libcuda.so.1")+") is too old: natssl needs CUDA 12.0 or later")
	})
}

// TestLookupErrors: the one-line errors before any work.
func TestLookupErrors(t *testing.T) {
	tmp := t.TempDir()
	sys := systemLibs(t)
	t.Run("no driver", func(t *testing.T) {
		empty := filepath.Join(tmp, "empty")
		os.MkdirAll(empty, 0o755)
		sites := []string{filepath.Join(tmp, "site1"), filepath.Join(tmp, "site2")}
		r := child(t, childSpec{Op: "load", LibDir: empty, Sites: sites}, "")
		if sys["libcuda.so.1"] != "" {
			// This machine's own driver is found (what follows may still be missing).
			if strings.Contains(r.Err, ErrNoDriver.Error()) {
				t.Errorf("the loader's %s was not found: %s", sys["libcuda.so.1"], r.Err)
			}
			return
		}
		wantErr(t, r, "ErrNoDriver", "cuda: no CUDA driver found: libcuda.so.1 not found: searched",
			LibDirEnv+"="+empty, "the dynamic loader's paths", "nvidia/*/lib under "+sites[0]+", "+sites[1])
		r = child(t, childSpec{Op: "load", Sites: []string{}}, "")
		wantErr(t, r, "ErrNoDriver", LibDirEnv+" (unset)", "no python site-packages (none found)")
	})
	t.Run("driver lacking a symbol", func(t *testing.T) {
		dir := filepath.Join(tmp, "partial")
		s := driverStub(12040, 0, 1, 90)
		s.Omit = "cuLaunchKernel"
		buildStub(t, dir, s)
		r := child(t, childSpec{Op: "load", LibDir: dir, Sites: []string{}}, "")
		wantErr(t, r, "ErrNoDriver", filepath.Join(dir, "libcuda.so.1")+" lacks cuLaunchKernel")
	})
	t.Run("a file that is not a library", func(t *testing.T) {
		dir := filepath.Join(tmp, "junk")
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "libcuda.so.1"), []byte("not an ELF file"), 0o644)
		r := child(t, childSpec{Op: "load", LibDir: dir, Sites: []string{}}, "")
		if sys["libcuda.so.1"] != "" {
			return
		}
		wantErr(t, r, "ErrNoDriver", "found but not loadable: "+filepath.Join(dir, "libcuda.so.1")+":")
		// and the search goes on to the next place
		good := filepath.Join(tmp, "good")
		fullSet(t, good, 12040, 12)
		r = child(t, childSpec{Op: "load", LibDir: dir, Sites: []string{}}, good)
		wantLib(t, r, "driver", FromLoader, filepath.Join(good, "libcuda.so.1"), "12.4")
	})
	t.Run("cublas missing", func(t *testing.T) {
		dir := filepath.Join(tmp, "nocublas")
		buildStub(t, dir, driverStub(12040, 0, 1, 90))
		buildStub(t, dir, nvrtcStub(12))
		r := child(t, childSpec{Op: "load", LibDir: dir, Sites: []string{}}, "")
		if sys["libcublas.so.12"] != "" {
			return
		}
		wantErr(t, r, "ErrNoLibrary", "cuda: cublas: CUDA library not found: libcublas.so.12 not found",
			"libcublas.so.13 not tried: driver 12.4")
	})
}

// TestDeviceErrors: cuda:N out of range, no GPU at all, and a GPU too old for NVRTC.
func TestDeviceErrors(t *testing.T) {
	tmp := t.TempDir()
	set := func(name string, d stub) string {
		dir := filepath.Join(tmp, name)
		buildStub(t, dir, d)
		buildStub(t, dir, cublasStub(12))
		buildStub(t, dir, nvrtcStub(12))
		return dir
	}
	cases := []struct {
		name   string
		driver stub
		device int
		is     string
		want   string
	}{
		{"out of range, one GPU", driverStub(12040, 0, 1, 90), 3, "ErrNoDevice",
			"cuda: cuda:3: no such CUDA device: this machine has 1 (cuda:0)"},
		{"out of range, two GPUs", driverStub(12040, 0, 2, 90), 2, "ErrNoDevice",
			"this machine has 2 (cuda:0 to cuda:1)"},
		{"negative", driverStub(12040, 0, 2, 90), -1, "ErrNoDevice", "cuda:-1: no such CUDA device"},
		{"no GPU", driverStub(12040, 100, 0, 90), 0, "ErrNoDevice",
			"cuda: cuda:0: no such CUDA device: the driver sees no GPU (cuInit: CUDA_ERROR_NO_DEVICE (100))"},
		{"GPU older than NVRTC", driverStub(12040, 0, 1, 37), 0, "ErrTooOld",
			"cuda: cuda:0 (Test GPU 0): compute capability 3.7 is too old for NVRTC 12.4 (oldest 5.0)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := child(t, childSpec{Op: "device", LibDir: set(strings.ReplaceAll(c.name, " ", "-"), c.driver), Sites: []string{}, Device: c.device}, "")
			wantErr(t, r, c.is, c.want)
		})
	}
}

// TestDescribe: the report names the driver, the libraries with their files and versions,
// the devices, or why there is no GPU.
func TestDescribe(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "all")
	fullSet(t, dir, 13000, 13)
	buildStub(t, dir, cudnnStub())
	r := child(t, childSpec{Op: "describe", LibDir: dir, Sites: []string{}}, "")
	for _, want := range []string{
		"cuda: driver 13.0 at " + filepath.Join(dir, "libcuda.so.1") + " (NATSSL_CUDA_LIB_DIR)\n",
		"cuda: cublas 13.4.5 at " + filepath.Join(dir, "libcublas.so.13") + " (NATSSL_CUDA_LIB_DIR)\n",
		"cuda: nvrtc 13.4 at " + filepath.Join(dir, "libnvrtc.so.13") + " (NATSSL_CUDA_LIB_DIR)\n",
		"cuda: cudnn 9.1.0 at " + filepath.Join(dir, "libcudnn.so.9") + " (NATSSL_CUDA_LIB_DIR), not used by natssl yet\n",
		"cuda:0 Test GPU 0 (sm_90, 132 SMs, 80.00 GiB)\n",
	} {
		if !strings.Contains(r.Report, want) {
			t.Errorf("report lacks %q:\n%s", want, r.Report)
		}
	}
	if strings.Contains(r.Report, "unavailable") {
		t.Errorf("report says unavailable:\n%s", r.Report)
	}

	noGPU := filepath.Join(tmp, "nogpu")
	buildStub(t, noGPU, driverStub(13000, 100, 0, 90))
	buildStub(t, noGPU, cublasStub(13))
	buildStub(t, noGPU, nvrtcStub(13))
	r = child(t, childSpec{Op: "describe", LibDir: noGPU, Sites: []string{}}, "")
	for _, want := range []string{"cuda: cudnn (libcudnn.so.9) not found (optional)\n",
		"cuda: unavailable: no such CUDA device: the driver sees no GPU (cuInit: CUDA_ERROR_NO_DEVICE (100))\n"} {
		if !strings.Contains(r.Report, want) && systemLibs(t)["libcudnn.so.9"] == "" {
			t.Errorf("report lacks %q:\n%s", want, r.Report)
		}
	}

	if systemLibs(t)["libcuda.so.1"] == "" {
		r = child(t, childSpec{Op: "describe", Sites: []string{}}, "")
		want := "cuda: unavailable: no CUDA driver found: libcuda.so.1 not found: searched NATSSL_CUDA_LIB_DIR (unset)"
		if !strings.HasPrefix(r.Report, want) || strings.Count(r.Report, "\n") != 1 {
			t.Errorf("report %q, want one line starting %q", r.Report, want)
		}
	}
}
