package cuda

/*
#include <stdlib.h>
#include "capi.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"slices"
	"unsafe"
)

// cublasLib is cuBLAS, bound.
type cublasLib struct {
	t    *C.ncu_cublas
	info Library
}

// nvrtcLib is NVRTC, bound, with the architectures it compiles for.
type nvrtcLib struct {
	t     *C.ncu_nvrtc
	info  Library
	archs []int // compute capabilities as 10·major + minor, ascending
}

// libraryError wraps a failed lookup of a library with the sonames a driver rules out.
func libraryError(name string, err error, skipped string) error {
	var le *LookupError
	if errors.As(err, &le) {
		le.Skipped = skipped
	}
	return fmt.Errorf("cuda: %s: %w: %w", name, ErrNoLibrary, err)
}

func loadCublas(s *searcher, driver int) (*cublasLib, error) {
	sonames, skipped := majorsFor("libcublas.so.", cublasMajors, driver)
	lib, info, err := s.find(libSpec{name: "cublas", sonames: sonames, probe: "cublasCreate_v2", companions: cublasCompanions})
	if err != nil {
		return nil, libraryError("cublas", err, skipped)
	}
	t := (*C.ncu_cublas)(C.calloc(1, C.size_t(unsafe.Sizeof(C.ncu_cublas{}))))
	if missing := C.ncu_bind_cublas(lib.h, t); missing != nil {
		C.free(unsafe.Pointer(t))
		return nil, fmt.Errorf("cuda: cublas: %s lacks %s", info.Path, C.GoString(missing))
	}
	var v [3]C.int
	for i := range v {
		if r := C.ncu_blas_property(t, C.int(i), &v[i]); r != 0 {
			return nil, fmt.Errorf("cuda: cublas: %s: cublasGetProperty: status %d", info.Path, int(r))
		}
	}
	info.Version = fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2])
	return &cublasLib{t: t, info: info}, nil
}

func loadNVRTC(s *searcher, driver int) (*nvrtcLib, error) {
	sonames, skipped := majorsFor("libnvrtc.so.", nvrtcMajors, driver)
	lib, info, err := s.find(libSpec{name: "nvrtc", sonames: sonames, probe: "nvrtcVersion", companions: nvrtcCompanions})
	if err != nil {
		return nil, libraryError("nvrtc", err, skipped)
	}
	t := (*C.ncu_nvrtc)(C.calloc(1, C.size_t(unsafe.Sizeof(C.ncu_nvrtc{}))))
	if missing := C.ncu_bind_nvrtc(lib.h, t); missing != nil {
		C.free(unsafe.Pointer(t))
		return nil, fmt.Errorf("cuda: nvrtc: %s lacks %s", info.Path, C.GoString(missing))
	}
	n := &nvrtcLib{t: t, info: info}
	var major, minor C.int
	if err := n.check("nvrtcVersion", C.ncu_nvrtc_version(t, &major, &minor)); err != nil {
		return nil, fmt.Errorf("cuda: nvrtc: %s: %w", info.Path, err)
	}
	n.info.Version = fmt.Sprintf("%d.%d", major, minor)
	var count C.int
	if err := n.check("nvrtcGetNumSupportedArchs", C.ncu_nvrtc_num_archs(t, &count)); err != nil {
		return nil, fmt.Errorf("cuda: nvrtc: %s: %w", info.Path, err)
	}
	if count > 0 {
		archs := make([]C.int, int(count))
		if err := n.check("nvrtcGetSupportedArchs", C.ncu_nvrtc_archs(t, &archs[0])); err != nil {
			return nil, fmt.Errorf("cuda: nvrtc: %s: %w", info.Path, err)
		}
		for _, a := range archs {
			n.archs = append(n.archs, int(a))
		}
		slices.Sort(n.archs)
	}
	return n, nil
}

func (n *nvrtcLib) check(op string, r C.nvrtcResult) error {
	if r == 0 {
		return nil
	}
	e := &Error{Lib: "nvrtc", Op: op, Code: int(r)}
	if s := C.ncu_nvrtc_error(n.t, r); s != nil {
		e.Name = C.GoString(s)
	}
	return e
}

// target is what NVRTC compiles for a device.
type target struct {
	arch string // sm_90 (a CUBIN for the device) or compute_90 (PTX the driver compiles)
	ptx  bool
}

// target chooses the compilation target for a device of compute capability cc (10·major +
// minor): a CUBIN when NVRTC knows the architecture, else PTX for the newest architecture
// it knows below the device's, which the driver compiles when the module is loaded.
func (n *nvrtcLib) target(cc int) (target, error) {
	if len(n.archs) == 0 || slices.Contains(n.archs, cc) {
		return target{arch: fmt.Sprintf("sm_%d", cc)}, nil
	}
	if cc < n.archs[0] {
		return target{}, fmt.Errorf("compute capability %d.%d is %w for NVRTC %s (oldest %d.%d)",
			cc/10, cc%10, ErrTooOld, n.info.Version, n.archs[0]/10, n.archs[0]%10)
	}
	best := n.archs[0]
	for _, a := range n.archs {
		if a <= cc {
			best = a
		}
	}
	return target{arch: fmt.Sprintf("compute_%d", best), ptx: true}, nil
}

// loadCudnn finds cuDNN 9 and its version, for Describe. natssl's kernels do not call it
// yet: it is reported so that a user sees what the machine offers.
func loadCudnn(s *searcher) (Library, error) {
	lib, info, err := s.find(libSpec{name: "cudnn", sonames: []string{"libcudnn.so.9"}, probe: "cudnnGetVersion"})
	if err != nil {
		return Library{}, err
	}
	var t C.ncu_cudnn
	if missing := C.ncu_bind_cudnn(lib.h, &t); missing != nil {
		return Library{}, fmt.Errorf("cuda: cudnn: %s lacks %s", info.Path, C.GoString(missing))
	}
	v := int(C.ncu_cudnn_version(&t))
	info.Version = fmt.Sprintf("%d.%d.%d", v/10000, v%10000/100, v%100)
	return info, nil
}
