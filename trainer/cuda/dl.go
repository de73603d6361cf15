package cuda

/*
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "capi.h"
*/
import "C"

import (
	"errors"
	"strings"
	"unsafe"
)

// library is a shared object opened with dlopen.
type library struct {
	h    unsafe.Pointer
	path string // the file the dynamic loader opened
}

// errNoFile is a dlopen failure because the file is not there (as opposed to a file that
// is there but cannot be loaded: wrong architecture, a missing dependency).
var errNoFile = errors.New("no such file")

// dlopen opens path (a file, or a bare soname for the loader's own search). global makes
// its symbols available to libraries opened later (for the companions a library needs).
func dlopen(path string, global bool) (*library, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var buf [512]C.char
	g := C.int(0)
	if global {
		g = 1
	}
	h := C.ncu_dlopen(cpath, g, &buf[0], C.int(len(buf)))
	if h == nil {
		msg := C.GoString(&buf[0])
		// Not "No such file" anywhere in the message: a dependency of the file can be
		// the one missing, and that is worth reporting.
		if strings.HasPrefix(msg, path+": cannot open shared object file") {
			return nil, errNoFile
		}
		return nil, errors.New(msg)
	}
	return &library{h: h, path: path}, nil
}

func (l *library) sym(name string) unsafe.Pointer {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return C.ncu_dlsym(l.h, cname)
}

// resolve sets l.path to the file that defines sym, as the dynamic loader resolved it.
func (l *library) resolve(sym string) {
	var buf [4096]C.char
	if C.ncu_dlpath(l.sym(sym), &buf[0], C.int(len(buf))) != 0 {
		l.path = C.GoString(&buf[0])
	}
}

func (l *library) close() {
	if l != nil && l.h != nil {
		C.ncu_dlclose(l.h)
		l.h = nil
	}
}

// symbols lists a NULL-terminated C array of names.
func symbols(list **C.char) []string {
	var out []string
	for p := list; *p != nil; p = (**C.char)(unsafe.Add(unsafe.Pointer(p), unsafe.Sizeof(p))) {
		out = append(out, C.GoString(*p))
	}
	return out
}

// Symbols lists the functions natssl binds in a library: "driver", "cublas", "nvrtc" or
// "cudnn" (nil for another name). A stand-in library for tests (package cudatest) exports
// them all.
func Symbols(lib string) []string {
	switch lib {
	case "driver":
		return symbols((**C.char)(unsafe.Pointer(&C.ncu_driver_symbols)))
	case "cublas":
		return symbols((**C.char)(unsafe.Pointer(&C.ncu_cublas_symbols)))
	case "nvrtc":
		return symbols((**C.char)(unsafe.Pointer(&C.ncu_nvrtc_symbols)))
	case "cudnn":
		return symbols((**C.char)(unsafe.Pointer(&C.ncu_cudnn_symbols)))
	}
	return nil
}
