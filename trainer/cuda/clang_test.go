package cuda

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestKernelsCompileToPTX compiles the kernels as CUDA device code with clang (its own CUDA
// front end and NVPTX back end, no NVIDIA toolkit) to PTX: CUDA's rules for device code that
// g++ through the host shim cannot see (qualifiers, __launch_bounds__ placement, shared
// memory, calls from device code) are checked, every warning an error. The PTX must define
// every kernel, give the cooperative ones their 256-thread bound, call no function outside
// them and fuse no multiply with an add (NVRTC's --fmad=false). NVRTC compiles the same source on a GPU machine.
func TestKernelsCompileToPTX(t *testing.T) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		t.Fatal("clang not found: this check of the kernels needs it (Debian: apt-get install clang)")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "natssl_kernels.cu")
	if err := os.WriteFile(src, []byte(KernelSource()), 0o644); err != nil {
		t.Fatal(err)
	}
	shim, err := filepath.Abs("testdata/clang_cuda_shim.h")
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{"sm_60", "sm_80"} {
		t.Run(arch, func(t *testing.T) {
			ptx := filepath.Join(dir, arch+".ptx")
			out, err := exec.Command(clang, "-x", "cuda", "--cuda-device-only", "--cuda-gpu-arch="+arch,
				"-nocudainc", "-nocudalib", "-std=c++17", "-O2", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror",
				"-include", shim, "-S", "-o", ptx, src).CombinedOutput()
			if err != nil {
				t.Fatalf("clang: %v\n%s", err, out)
			}
			data, err := os.ReadFile(ptx)
			if err != nil {
				t.Fatal(err)
			}
			text := string(data)
			coop := map[string]bool{}
			for _, k := range parseKernels(KernelSource()) {
				coop[k.name] = k.coop
			}
			entries := regexp.MustCompile(`\.visible \.entry (\w+)\(`).FindAllStringSubmatch(text, -1)
			var names []string
			for _, e := range entries {
				names = append(names, e[1])
			}
			if want := KernelNames(); !slices.Equal(sorted(names), sorted(want)) {
				t.Fatalf("PTX entries %v, want %v", names, want)
			}
			// Each entry's directives come before its body: a cooperative kernel's bound.
			for i, e := range entries {
				start := strings.Index(text, e[0])
				end := len(text)
				if i+1 < len(entries) {
					end = strings.Index(text, entries[i+1][0])
				}
				body := text[start:end]
				bounded := strings.Contains(body[:strings.Index(body, "{")], ".maxntid 256, 1, 1")
				if bounded != coop[e[1]] {
					t.Errorf("%s: .maxntid 256 %v, cooperative %v", e[1], bounded, coop[e[1]])
				}
			}
			var calls []string
			for _, ext := range regexp.MustCompile(`\.extern\s+\.func\s+(?:\([^)]*\)\s*)?(\w+)`).FindAllStringSubmatch(text, -1) {
				calls = append(calls, ext[1])
			}
			if len(calls) > 0 {
				t.Errorf("the kernels call %v, want no function outside them", calls)
			}
			if strings.Contains(text, "fma.rn") {
				t.Error("the PTX fuses a multiply and an add: the kernels must round every operation")
			}
		})
	}
}

func sorted(xs []string) []string {
	out := slices.Clone(xs)
	slices.Sort(out)
	return out
}
