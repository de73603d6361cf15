package cuda

/*
#include <stdlib.h>
#include <string.h>
#include "capi.h"
*/
import "C"

import (
	"fmt"
	"strings"
	"unsafe"
)

// compileOptions are NVRTC's options besides the architecture: no fused multiply-adds, so
// that every operation rounds as the CPU's does (kernels/common.cuh).
var compileOptions = []string{"-default-device", "--fmad=false"}

// compile runs NVRTC on src for t and returns the CUBIN or PTX, with the compiler's log.
func (n *nvrtcLib) compile(src, name string, t target) ([]byte, string, error) {
	opts := append([]string{"--gpu-architecture=" + t.arch}, compileOptions...)
	copts := make([]*C.char, len(opts))
	for i, o := range opts {
		copts[i] = C.CString(o)
		defer C.free(unsafe.Pointer(copts[i]))
	}
	csrc, cname := C.CString(src), C.CString(name)
	defer C.free(unsafe.Pointer(csrc))
	defer C.free(unsafe.Pointer(cname))
	var out, log *C.char
	var outlen C.size_t
	ptx := C.int(0)
	if t.ptx {
		ptx = 1
	}
	// copts is Go memory holding C pointers only, which cgo allows C to read.
	r := C.ncu_compile(n.t, csrc, cname, &copts[0], C.int(len(copts)), ptx, &out, &outlen, &log)
	defer C.free(unsafe.Pointer(out))
	defer C.free(unsafe.Pointer(log))
	var logText string
	if log != nil {
		logText = strings.TrimSpace(C.GoString(log))
	}
	if err := n.check("nvrtcCompileProgram", r); err != nil {
		return nil, logText, err
	}
	image := C.GoBytes(unsafe.Pointer(out), C.int(outlen))
	if t.ptx {
		image = []byte(strings.TrimRight(string(image), "\x00"))
	}
	return image, logText, nil
}

// firstLine is the first line of a compiler log that reports an error, or its first line.
func firstLine(log string) string {
	lines := strings.Split(log, "\n")
	for _, l := range lines {
		if strings.Contains(l, "error") {
			return strings.TrimSpace(l)
		}
	}
	return strings.TrimSpace(lines[0])
}

// KernelCache says where a device's kernels came from.
type KernelCache struct {
	Path string // the cache file (empty when there is no usable cache folder)
	Hit  bool   // read from the cache rather than compiled
	Err  error  // why the cache could not be read or written (the kernels still work)
}

// kernel returns one of natssl's kernels on the device, loading the module on first use.
func (dev *Device) kernel(name string) (*Function, error) {
	dev.modOnce.Do(func() { dev.mod, dev.cache, dev.modErr = dev.loadKernels() })
	if dev.modErr != nil {
		return nil, dev.modErr
	}
	dev.fnMu.Lock()
	defer dev.fnMu.Unlock()
	if f, ok := dev.fns[name]; ok {
		return f, nil
	}
	f, err := dev.mod.Function(name)
	if err != nil {
		return nil, err
	}
	if dev.fns == nil {
		dev.fns = map[string]*Function{}
	}
	dev.fns[name] = f
	return f, nil
}

// LoadKernels compiles (or reads from the cache) and loads natssl's kernels now rather
// than at the first launch, and says where they came from.
func (dev *Device) LoadKernels() (KernelCache, error) {
	dev.modOnce.Do(func() { dev.mod, dev.cache, dev.modErr = dev.loadKernels() })
	return dev.cache, dev.modErr
}

func (dev *Device) loadKernels() (*Module, KernelCache, error) {
	rtc := dev.d.rtc
	t, err := rtc.target(dev.Major*10 + dev.Minor)
	if err != nil {
		return nil, KernelCache{}, fmt.Errorf("cuda: cuda:%d: %w", dev.Index, err)
	}
	key := CacheKey{Source: SourceHash(), Options: strings.Join(compileOptions, " "), NVRTC: rtc.info.Version,
		Driver: dev.d.version, Target: t.arch}
	var info KernelCache
	dir := dev.d.opts.CacheDir
	if dir == "" {
		dir, info.Err = DefaultCacheDir()
	}
	var cache *kernelCache
	if dir != "" {
		cache = &kernelCache{dir: dir}
		info.Path = cache.path(key)
		if img, ok := cache.read(key); ok {
			if m, err := dev.LoadModule(img); err == nil {
				info.Hit = true
				return m, info, nil
			}
			// A damaged or foreign file: compile and replace it.
		}
	}
	img, log, err := rtc.compile(KernelSource(), "natssl_kernels.cu", t)
	if err != nil {
		return nil, info, fmt.Errorf("cuda: cuda:%d: compile kernels for %s with NVRTC %s: %w: %s",
			dev.Index, t.arch, rtc.info.Version, err, firstLine(log))
	}
	m, err := dev.LoadModule(img)
	if err != nil {
		return nil, info, fmt.Errorf("cuda: cuda:%d: load kernels compiled for %s: %w", dev.Index, t.arch, err)
	}
	if cache != nil {
		info.Err = cache.write(key, img)
	}
	return m, info, nil
}

// Module is code loaded on a device: a CUBIN, or PTX that the driver compiles on loading.
type Module struct {
	dev *Device
	m   C.CUmodule
}

// LoadModule loads a CUBIN or PTX image on the device.
func (dev *Device) LoadModule(image []byte) (*Module, error) {
	if len(image) == 0 {
		return nil, fmt.Errorf("cuda: cuda:%d: load module: empty image", dev.Index)
	}
	// PTX is read as a NUL-terminated string; a CUBIN carries its own size.
	buf := C.malloc(C.size_t(len(image) + 1))
	defer C.free(buf)
	C.memcpy(buf, unsafe.Pointer(&image[0]), C.size_t(len(image)))
	*(*byte)(unsafe.Add(buf, len(image))) = 0
	var m C.CUmodule
	if err := dev.check("cuModuleLoadData", C.ncu_module_load(dev.d.t, dev.ctx, &m, buf)); err != nil {
		return nil, err
	}
	return &Module{dev: dev, m: m}, nil
}

// Function is a kernel of a module.
type Function struct {
	m    *Module
	f    C.CUfunction
	name string
}

// Function looks up a kernel by its (extern "C") name.
func (m *Module) Function(name string) (*Function, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var f C.CUfunction
	if err := m.dev.check("cuModuleGetFunction "+name, C.ncu_module_function(m.dev.d.t, m.dev.ctx, &f, m.m, cname)); err != nil {
		return nil, err
	}
	return &Function{m: m, f: f, name: name}, nil
}

// Close unloads the module.
func (m *Module) Close() error {
	return m.dev.check("cuModuleUnload", C.ncu_module_unload(m.dev.d.t, m.dev.ctx, m.m))
}
