package cuda

/*
#include <stdlib.h>
#include <string.h>
#include "capi.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

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
