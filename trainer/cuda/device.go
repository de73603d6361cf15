package cuda

/*
#include <stdlib.h>
#include "capi.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"
)

// Device is one GPU with its primary context (the one the CUDA runtime, and so cuBLAS,
// uses too). Its methods may be called from any goroutine: every call makes the context
// current on its own thread first.
type Device struct {
	DeviceInfo
	d   *Driver
	ctx C.CUcontext

	modOnce sync.Once // the kernels, compiled or read from the cache on first use
	mod     *Module
	cache   KernelCache
	modErr  error
	fnMu    sync.Mutex
	fns     map[string]*Function
}

// DevicePtr is an address in device memory (CUdeviceptr, 64-bit on every platform).
type DevicePtr uint64

// At returns the address of the i-th float32 from p.
func (p DevicePtr) At(i int) DevicePtr { return p + DevicePtr(4*i) }

// Driver returns the driver the device was opened with.
func (dev *Device) Driver() *Driver { return dev.d }

// Close releases the device's primary context (the driver keeps it while other users hold it).
func (dev *Device) Close() error {
	dev.d.mu.Lock()
	delete(dev.d.devices, dev.Index)
	dev.d.mu.Unlock()
	if dev.mod != nil {
		dev.mod.Close()
	}
	return dev.check("cuDevicePrimaryCtxRelease", C.ncu_ctx_release(dev.d.t, C.int(dev.Index)))
}

// Synchronize waits for all work on the device.
func (dev *Device) Synchronize() error {
	return dev.check("cuCtxSynchronize", C.ncu_ctx_sync(dev.d.t, dev.ctx))
}

func (dev *Device) check(op string, r C.CUresult) error {
	if err := dev.d.check(op, r); err != nil {
		return fmt.Errorf("cuda: cuda:%d: %w", dev.Index, err)
	}
	return nil
}

// MemInfo returns the device's free and total memory in bytes.
func (dev *Device) MemInfo() (free, total int64, err error) {
	var f, t C.size_t
	if err := dev.check("cuMemGetInfo", C.ncu_mem_info(dev.d.t, dev.ctx, &f, &t)); err != nil {
		return 0, 0, err
	}
	return int64(f), int64(t), nil
}

// Alloc allocates bytes of device memory. When the device has too little it returns a
// *MemoryError (errors.Is ErrOutOfMemory) with the sizes.
func (dev *Device) Alloc(bytes int64) (DevicePtr, error) {
	if bytes <= 0 {
		return 0, fmt.Errorf("cuda: cuda:%d: alloc %d bytes", dev.Index, bytes)
	}
	var p C.CUdeviceptr
	r := C.ncu_mem_alloc(dev.d.t, dev.ctx, &p, C.size_t(bytes))
	if r == 0 {
		return DevicePtr(p), nil
	}
	err := dev.d.check("cuMemAlloc", r)
	if errors.Is(err, ErrOutOfMemory) {
		free, total, _ := dev.MemInfo()
		if total == 0 {
			total = dev.Memory
		}
		return 0, &MemoryError{Device: dev.Index, Requested: bytes, Free: free, Total: total, Err: err}
	}
	return 0, fmt.Errorf("cuda: cuda:%d: alloc %d bytes: %w", dev.Index, bytes, err)
}

// AllocFloats allocates n float32s.
func (dev *Device) AllocFloats(n int) (DevicePtr, error) { return dev.Alloc(4 * int64(n)) }

// Free releases memory from Alloc.
func (dev *Device) Free(p DevicePtr) error {
	if p == 0 {
		return nil
	}
	return dev.check("cuMemFree", C.ncu_mem_free(dev.d.t, dev.ctx, C.CUdeviceptr(p)))
}

// HostBuffer is page-locked host memory of float32s: the device copies from and to it
// asynchronously, so that an upload overlaps the work before it. It is usable with every
// device of the process.
type HostBuffer struct {
	dev *Device
	p   unsafe.Pointer
	n   int
}

// AllocHost allocates a page-locked buffer of n float32s.
func (dev *Device) AllocHost(n int) (*HostBuffer, error) {
	if n <= 0 {
		return nil, fmt.Errorf("cuda: cuda:%d: host alloc %d floats", dev.Index, n)
	}
	var p unsafe.Pointer
	if err := dev.check("cuMemHostAlloc", C.ncu_host_alloc(dev.d.t, dev.ctx, &p, C.size_t(4*n))); err != nil {
		return nil, err
	}
	return &HostBuffer{dev: dev, p: p, n: n}, nil
}

// Floats is the buffer's memory. It stays valid until Free.
func (h *HostBuffer) Floats() []float32 { return unsafe.Slice((*float32)(h.p), h.n) }

// Len is the buffer's length in float32s.
func (h *HostBuffer) Len() int { return h.n }

// Free releases the buffer.
func (h *HostBuffer) Free() error {
	if h.p == nil {
		return nil
	}
	err := h.dev.check("cuMemFreeHost", C.ncu_host_free(h.dev.d.t, h.dev.ctx, h.p))
	h.p, h.n = nil, 0
	return err
}

// span checks that floats [off, off+n) lie inside the buffer and returns their address.
func (h *HostBuffer) span(off, n int) (unsafe.Pointer, error) {
	if off < 0 || n < 0 || off+n > h.n {
		return nil, fmt.Errorf("cuda: host buffer: floats [%d, %d) outside its %d", off, off+n, h.n)
	}
	return unsafe.Add(h.p, 4*off), nil
}
