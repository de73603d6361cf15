package cuda

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// The kernels' CUDA C: common.cuh (shared helpers) and one .cu file per family of ops.
// host_shim.h and host_sim.h let a C++ compiler build and run them on the CPU (hostsim.go).
//
//go:embed kernels/*.cu kernels/*.cuh kernels/host_shim.h kernels/host_sim.h
var kernelFiles embed.FS

var (
	sourceOnce sync.Once
	source     string
	kernelDefs []kernelDef
)

// kernelDef is a kernel the source defines; cooperative kernels (declared with
// __launch_bounds__) synchronise their block and must be launched with exactly that many
// threads.
type kernelDef struct {
	name string
	coop bool
}

// kernelRE matches a kernel definition: extern "C" __global__ void [__launch_bounds__(N)] name(
var kernelRE = regexp.MustCompile(`extern\s+"C"\s+__global__\s+void\s+(__launch_bounds__\([^)]*\)\s+)?(\w+)\s*\(`)

func loadSource() {
	var b strings.Builder
	add := func(name string) {
		data, err := kernelFiles.ReadFile("kernels/" + name)
		if err != nil {
			panic(fmt.Sprintf("cuda: embedded kernel %s: %v", name, err)) // the embed pattern guarantees it
		}
		fmt.Fprintf(&b, "#line 1 \"trainer/cuda/kernels/%s\"\n%s\n", name, data)
	}
	add("common.cuh")
	names, _ := fs.Glob(kernelFiles, "kernels/*.cu")
	sort.Strings(names)
	for _, n := range names {
		add(strings.TrimPrefix(n, "kernels/"))
	}
	source = b.String()
	kernelDefs = parseKernels(source)
}

// parseKernels lists the kernels src defines.
func parseKernels(src string) []kernelDef {
	var defs []kernelDef
	for _, m := range kernelRE.FindAllStringSubmatch(src, -1) {
		defs = append(defs, kernelDef{name: m[2], coop: m[1] != ""})
	}
	return defs
}

// KernelSource returns the kernels as one translation unit: common.cuh, then every .cu file
// in name order, each after a #line directive so that a compiler's messages name the file
// and line in the repository.
func KernelSource() string {
	sourceOnce.Do(loadSource)
	return source
}

// KernelNames lists the kernels KernelSource defines, in source order.
func KernelNames() []string {
	sourceOnce.Do(loadSource)
	out := make([]string, len(kernelDefs))
	for i, k := range kernelDefs {
		out[i] = k.name
	}
	return out
}

// SourceHash is the hex SHA-256 of KernelSource: it keys the compiled-kernel cache.
func SourceHash() string {
	s := sha256.Sum256([]byte(KernelSource()))
	return hex.EncodeToString(s[:])
}

// hostShim is the header that builds the kernels for the CPU.
func hostShim() string {
	data, err := kernelFiles.ReadFile("kernels/host_shim.h")
	if err != nil {
		panic(fmt.Sprintf("cuda: embedded host_shim.h: %v", err))
	}
	return string(data)
}
