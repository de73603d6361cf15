//go:build cgo

package trainer

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/trainer/cuda"
	"github.com/natssl/natssl/trainer/cuda/cudatest"
)

// The refusals of CUDA devices before any work, with stand-in libraries (package cudatest)
// loaded in a child of the test binary: the driver is loaded once per process.

// checkChild is what a child checks: CheckDevices on a config; with Rank, CheckRankDevices
// for that local rank of Ranks ranks, or, without Devices, what train.devices [auto]
// resolves to there.
type checkChild struct {
	Devices   []string
	Backbone  string
	Size      int
	Batch     int
	Precision string
	Rank      *int
	Ranks     int
}

const checkChildEnv = "NATSSL_TRAINER_CHECK_CHILD"

// runCheckChild is the child's side (TestMain): it prints the check's error, or "ok" (or the
// devices resolved).
func runCheckChild(spec string) int {
	var c checkChild
	if err := json.Unmarshal([]byte(spec), &c); err != nil {
		fmt.Println(err)
		return 2
	}
	if c.Rank != nil && len(c.Devices) == 0 {
		devs, err := ResolveDevices([]string{AutoDevice}, *c.Rank)
		if err != nil {
			fmt.Println(err)
			return 0
		}
		fmt.Println(strings.Join(devs, ","))
		return 0
	}
	cfg := configs.Default()
	cfg.Model = configs.Model{Backbone: c.Backbone, Width: 64, ProjHidden: 2048, ProjDim: 128}
	cfg.Data.ImageSize, cfg.Data.BatchSize = c.Size, c.Batch
	cfg.Train.Devices = c.Devices
	cfg.Train.Optimizer = "lars"
	if c.Precision != "" {
		cfg.Train.Precision = c.Precision
	}
	check := CheckDevices
	if c.Rank != nil {
		check = func(cfg *configs.Config) error { return CheckRankDevices(cfg, c.Ranks, *c.Rank) }
	}
	if err := check(cfg); err != nil {
		fmt.Println(err)
		return 0
	}
	fmt.Println("ok")
	return 0
}

// checkIn runs c in a child whose CUDA libraries are those of libDir.
func checkIn(t *testing.T, libDir string, c checkChild) string {
	t.Helper()
	js, _ := json.Marshal(c)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LD_LIBRARY_PATH=") && !strings.HasPrefix(kv, cuda.LibDirEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, checkChildEnv+"="+string(js), cuda.LibDirEnv+"="+libDir,
		"XDG_CACHE_HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child %s: %v\n%s", js, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestCheckDevicesRefuses(t *testing.T) {
	tmp := t.TempDir()
	set := func(name string, driver cudatest.Stub) string {
		dir := filepath.Join(tmp, name)
		cudatest.Build(t, dir, driver)
		cudatest.Build(t, dir, cudatest.Cublas(cuda.Symbols("cublas"), 12))
		cudatest.Build(t, dir, cudatest.Compiling(cudatest.NVRTC(cuda.Symbols("nvrtc"), 12)))
		return dir
	}
	gpu := func(version, count, cc int, free int64) cudatest.Stub {
		return cudatest.Contexts(cudatest.Driver(cuda.Symbols("driver"), version, 0, count, cc), free)
	}
	one := set("one-gpu", gpu(12040, 1, 90, 80<<30))
	small := set("small-gpu", gpu(12040, 1, 90, 1<<30))
	r50 := checkChild{Devices: []string{"cuda:0"}, Backbone: "resnet50", Size: 224, Batch: 256}
	rank := func(c checkChild, r, of int) checkChild {
		c.Devices, c.Rank, c.Ranks = []string{AutoDevice}, &r, of
		return c
	}
	tf32 := r50
	tf32.Precision = configs.PrecisionTF32
	cases := []struct {
		name string
		dir  string
		c    checkChild
		want []string // substrings of the one line; "ok" alone when it passes
	}{
		{"an index out of range", one, checkChild{Devices: []string{"cuda:3"}, Backbone: "resnet18", Size: 32, Batch: 8},
			[]string{"trainer: cuda: cuda:3: no such CUDA device: this machine has 1 (cuda:0)"}},
		{"a driver too old", set("old-driver", gpu(11080, 1, 90, 80<<30)), r50,
			[]string{"cuda:0", "driver 11.8", "is too old: natssl needs CUDA 12.0 or later"}},
		{"a GPU too old", set("old-gpu", gpu(12040, 1, 37, 80<<30)), r50,
			[]string{"cuda:0 (Test GPU 0)", "compute capability 3.7 is too old for NVRTC 12.4"}},
		{"a batch beyond the memory", small, r50,
			[]string{"cuda:0 Test GPU 0", "data.batch_size 256 needs about", "GiB of its memory", "at 224 px on it, resnet50 fp32",
				"has 1.0 GiB free of 80.0 GiB", "lower data.batch_size"}},
		{"two replicas beyond one GPU's memory", small, checkChild{Devices: []string{"cuda:0", "cuda:0"}, Backbone: "resnet50", Size: 224, Batch: 256},
			[]string{"2 replica(s) of 128 images"}},
		{"a batch that fits", one, r50, []string{"ok"}},
		{"auto: rank 3's share beyond its GPU's memory", set("two-small-gpus", gpu(12040, 2, 90, 1<<30)), rank(r50, 3, 4),
			[]string{"cuda:1 Test GPU 1", "data.batch_size 256 over 4 ranks needs about", "1 replica(s) of 64 images"}},
		{"auto: rank 3's share on its GPU", set("two-gpus", gpu(12040, 2, 90, 80<<30)), rank(r50, 3, 4), []string{"ok"}},
		{"auto: tf32 where the driver sees no GPU", set("no-gpu", gpu(12040, 0, 90, 80<<30)), rank(tf32, 0, 2),
			[]string{"train.precision tf32 needs a GPU", "train.devices [auto] is the CPU here"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := checkIn(t, c.dir, c.c)
			t.Log(got)
			if strings.Contains(got, "\n") {
				t.Errorf("not one line: %q", got)
			}
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("got %q, want it to contain %q", got, w)
				}
			}
		})
	}
	t.Run("no driver", func(t *testing.T) {
		empty := filepath.Join(tmp, "empty")
		os.MkdirAll(empty, 0o755)
		got := checkIn(t, empty, r50)
		if !strings.Contains(got, "no CUDA driver found") {
			t.Skipf("this machine's dynamic loader has a CUDA driver: %s", got)
		}
		for _, w := range []string{"trainer: cuda:0: cuda: no CUDA driver found: libcuda.so.1 not found: searched",
			cuda.LibDirEnv + "=" + empty, "the dynamic loader's paths"} {
			if !strings.Contains(got, w) {
				t.Errorf("got %q, want it to contain %q", got, w)
			}
		}
	})
}

// TestDeviceMemoryGrowsWithTheBatch: the count behind the memory refusal is the memory a
// build asks for: more with a larger batch, more for the first GPU (the optimizer's state)
// than for a second, and per GPU when replicas share one.
func TestDeviceMemoryGrowsWithTheBatch(t *testing.T) {
	m := configs.Model{Backbone: "resnet18-cifar", Width: 8, ProjHidden: 32, ProjDim: 16}
	opt := buildOptions{gpu: gpuOptions{optimizer: "adamw"}}
	count := func(batch int, devices ...string) map[int]int64 {
		t.Helper()
		spec := netSpec{model: m, method: configs.Method{Name: "simclr"}, temp: 0.5, groups: []viewGroup{{32, 2}}, batch: batch, devices: devices}
		need, err := deviceMemory(spec, opt)
		if err != nil {
			t.Fatal(err)
		}
		return need
	}
	small, large := count(8, "cuda:0"), count(32, "cuda:0")
	if !(large[0] > small[0] && small[0] > 0) {
		t.Errorf("batch 8 needs %d bytes, batch 32 %d", small[0], large[0])
	}
	two := count(32, "cuda:0", "cuda:1")
	if !(two[0] > two[1] && two[1] > 0) {
		t.Errorf("two GPUs: %v, want more on the first", two)
	}
	shared := count(32, "cuda:0", "cuda:0")
	if !(shared[0] > large[0]) || len(shared) != 1 {
		t.Errorf("two replicas on one GPU: %v, one replica %v", shared, large)
	}
}

// TestAutoDevice: under train.devices [auto], a process of local rank r trains on GPU r mod
// the GPUs the driver sees, on the CPU where there is no driver or no GPU, and is refused
// where the driver has no libraries beside it.
func TestAutoDevice(t *testing.T) {
	tmp := t.TempDir()
	set := func(name string, count int, libs bool) string {
		dir := filepath.Join(tmp, name)
		cudatest.Build(t, dir, cudatest.Driver(cuda.Symbols("driver"), 12040, map[bool]int{true: 0, false: 100}[count > 0], count, 90))
		if libs {
			cudatest.Build(t, dir, cudatest.Cublas(cuda.Symbols("cublas"), 12))
			cudatest.Build(t, dir, cudatest.NVRTC(cuda.Symbols("nvrtc"), 12))
		}
		return dir
	}
	rank := func(r int) checkChild { return checkChild{Rank: &r} }
	two, none := set("two", 2, true), set("none", 0, true)
	for _, c := range []struct {
		name string
		dir  string
		rank int
		want string
	}{
		{"rank 3 of two GPUs", two, 3, "cuda:1"},
		{"rank 0 of two GPUs", two, 0, "cuda:0"},
		{"a driver that sees no GPU", none, 1, "cpu"},
		{"no libraries beside the driver", set("bare", 1, false), 0, "trainer: train.devices auto: cuda: cublas: CUDA library not found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := checkIn(t, c.dir, rank(c.rank))
			if !strings.HasPrefix(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
	t.Run("no driver", func(t *testing.T) {
		empty := filepath.Join(tmp, "empty")
		os.MkdirAll(empty, 0o755)
		got := checkIn(t, empty, rank(2))
		if got != "cpu" && strings.HasPrefix(got, "cuda:") {
			t.Skipf("this machine's dynamic loader has a CUDA driver: %s", got)
		}
		if got != "cpu" {
			t.Errorf("got %q, want cpu", got)
		}
	})
}
