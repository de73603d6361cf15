package cuda

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestKernelNames: the kernels the source defines are the ones the op functions launch
// (package trainer's TestCUDAKernelsOnHost checks each is launched); a rename shows up here
// first.
func TestKernelNames(t *testing.T) {
	want := []string{
		"chan_sums", "bn_mean", "bn_train_stats", "bn_eval_stats", "bn_scale_shift", "bn_apply",
		"bn_back_sums", "bn_back_stats", "bn_back_apply",
		"weights_kco", "weights_kco_back", "im2col", "col2im", "subsample", "subsample_back",
		"nchw_to_nhwc", "copy_to", "add_to", "relu_mask", "fill", "bias_rows", "sum_rows", "relu", "ema",
		"sgd", "adamw", "lars_partial", "lars_scale", "lars_update",
		"maxpool", "maxpool_arg", "maxpool_back", "avgpool", "avgpool_back",
	}
	got := KernelNames()
	if !slices.Equal(got, want) {
		t.Fatalf("kernels\n got %v\nwant %v", got, want)
	}
}

// TestKernelSourceEmbedded: every .cu file of the repository is in the source, whole, after
// a #line directive naming it; the hash is the source's.
func TestKernelSourceEmbedded(t *testing.T) {
	src := KernelSource()
	files, err := filepath.Glob("kernels/*.cu")
	if err != nil || len(files) == 0 {
		t.Fatalf("kernels/*.cu: %v %v", files, err)
	}
	for _, f := range append(files, "kernels/common.cuh") {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		head := "#line 1 \"trainer/cuda/" + f + "\"\n"
		if !strings.Contains(src, head+string(data)) {
			t.Errorf("%s is not in the embedded source (rebuild, or the file is not embedded)", f)
		}
	}
	if !strings.HasPrefix(src, "#line 1 \"trainer/cuda/kernels/common.cuh\"\n") {
		t.Error("common.cuh does not come first")
	}
	sum := sha256.Sum256([]byte(src))
	if got := SourceHash(); got != hex.EncodeToString(sum[:]) || got != SourceHash() {
		t.Errorf("SourceHash %s is not the source's SHA-256 or changes between calls", got)
	}
}

// TestCacheKey: the cache file's name depends on every field of the key, and on nothing
// else (a golden name pins the digest's definition: changing it orphans every cache).
func TestCacheKey(t *testing.T) {
	base := CacheKey{Source: "abc", Options: "--fmad=false", NVRTC: "13.0", Driver: 13000, Target: "sm_90"}
	if got, want := base.File(), "kernels-sm_90-118f0e586a0da4256c740f03.cubin"; got != want {
		t.Errorf("File() = %s, want %s", got, want)
	}
	variants := []CacheKey{
		{Source: "abd", Options: "--fmad=false", NVRTC: "13.0", Driver: 13000, Target: "sm_90"},
		{Source: "abc", Options: "", NVRTC: "13.0", Driver: 13000, Target: "sm_90"},
		{Source: "abc", Options: "--fmad=false", NVRTC: "12.8", Driver: 13000, Target: "sm_90"},
		{Source: "abc", Options: "--fmad=false", NVRTC: "13.0", Driver: 13010, Target: "sm_90"},
		{Source: "abc", Options: "--fmad=false", NVRTC: "13.0", Driver: 13000, Target: "sm_80"},
	}
	seen := map[string]bool{base.File(): true}
	for _, v := range variants {
		if seen[v.File()] {
			t.Errorf("%+v: name %s not unique", v, v.File())
		}
		seen[v.File()] = true
	}
	ptx := CacheKey{Source: "abc", NVRTC: "13.0", Driver: 13000, Target: "compute_90"}
	if !strings.HasSuffix(ptx.File(), ".ptx") {
		t.Errorf("PTX target: %s", ptx.File())
	}
}

// TestReduceThreads: the Go side launches the cooperative kernels with the block size the
// CUDA side is written for.
func TestReduceThreads(t *testing.T) {
	m := regexp.MustCompile(`#define REDUCE_THREADS (\d+)`).FindStringSubmatch(KernelSource())
	if m == nil {
		t.Fatal("no REDUCE_THREADS in common.cuh")
	}
	if n, _ := strconv.Atoi(m[1]); n != reduceThreads {
		t.Fatalf("REDUCE_THREADS %d, Go reduceThreads %d", n, reduceThreads)
	}
}

// TestCooperativeDeclared: a kernel that synchronises its block (directly or through the
// block reductions) is declared __launch_bounds__(REDUCE_THREADS), which both the GPU
// compiler and the host simulation rely on; and no other kernel is.
func TestCooperativeDeclared(t *testing.T) {
	src := KernelSource()
	locs := kernelRE.FindAllStringSubmatchIndex(src, -1)
	for i, loc := range locs {
		end := len(src)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		body := src[loc[1]:end]
		name := src[loc[4]:loc[5]]
		declared := loc[2] >= 0
		syncs := strings.Contains(body, "__syncthreads") || strings.Contains(body, "block_sum2") || strings.Contains(body, "block_max")
		if syncs && !declared {
			t.Errorf("%s synchronises but is not declared __launch_bounds__(REDUCE_THREADS)", name)
		}
		if declared && !syncs {
			t.Errorf("%s is declared cooperative but never synchronises", name)
		}
		if declared && !strings.HasPrefix(src[loc[2]:loc[3]], "__launch_bounds__(REDUCE_THREADS)") {
			t.Errorf("%s: %s, want __launch_bounds__(REDUCE_THREADS)", name, src[loc[2]:loc[3]])
		}
	}
}

// TestKernelsCompileAsCPP: each kernel file compiles on its own, with the shared header,
// through the host shim (g++ -fsyntax-only, every warning an error).
func TestKernelsCompileAsCPP(t *testing.T) {
	cxx := os.Getenv("CXX")
	if cxx == "" {
		cxx = "g++"
	}
	files, _ := filepath.Glob("kernels/*.cu")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			out, err := exec.Command(cxx, "-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", "-Werror",
				"-include", "kernels/host_shim.h", "-include", "kernels/common.cuh", "-x", "c++", f).CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", cxx, err, out)
			}
		})
	}
}
