package cuda

/*
#include <stdlib.h>
#include "capi.h"
*/
import "C"

import (
	"fmt"
	"math"
	"time"
	"unsafe"
)

// Stream is an ordered queue of copies and kernels on a device. Work on different streams
// may overlap; Events order it across streams.
type Stream struct {
	dev *Device
	s   C.CUstream
}

// NewStream creates a stream that does not synchronise with the legacy default stream.
func (dev *Device) NewStream() (*Stream, error) {
	var s C.CUstream
	if err := dev.check("cuStreamCreate", C.ncu_stream_create(dev.d.t, dev.ctx, &s)); err != nil {
		return nil, err
	}
	return &Stream{dev: dev, s: s}, nil
}

// Device is the device the stream belongs to.
func (s *Stream) Device() *Device { return s.dev }

// Close destroys the stream once its work is done.
func (s *Stream) Close() error {
	return s.dev.check("cuStreamDestroy", C.ncu_stream_destroy(s.dev.d.t, s.dev.ctx, s.s))
}

// Synchronize waits for the stream's work. Errors of kernels launched earlier surface here.
func (s *Stream) Synchronize() error {
	return s.dev.check("cuStreamSynchronize", C.ncu_stream_sync(s.dev.d.t, s.dev.ctx, s.s))
}

// Upload copies src into device memory at dst after the stream's earlier work, and returns
// when the copy is done.
func (s *Stream) Upload(dst DevicePtr, src []float32) error {
	if len(src) == 0 {
		return nil
	}
	return s.dev.check("cuMemcpyHtoD", C.ncu_htod(s.dev.d.t, s.dev.ctx, C.CUdeviceptr(dst),
		unsafe.Pointer(&src[0]), C.size_t(4*len(src)), s.s))
}

// Download copies len(dst) float32s from src after the stream's earlier work, and returns
// when they have arrived.
func (s *Stream) Download(dst []float32, src DevicePtr) error {
	if len(dst) == 0 {
		return nil
	}
	return s.dev.check("cuMemcpyDtoH", C.ncu_dtoh(s.dev.d.t, s.dev.ctx, unsafe.Pointer(&dst[0]),
		C.CUdeviceptr(src), C.size_t(4*len(dst)), s.s))
}

// DownloadInt32 copies len(dst) int32s (a max-pool mask) from src, as Download.
func (s *Stream) DownloadInt32(dst []int32, src DevicePtr) error {
	if len(dst) == 0 {
		return nil
	}
	return s.dev.check("cuMemcpyDtoH", C.ncu_dtoh(s.dev.d.t, s.dev.ctx, unsafe.Pointer(&dst[0]),
		C.CUdeviceptr(src), C.size_t(4*len(dst)), s.s))
}

// UploadAsync queues a copy of n floats from h (from float off) to dst and returns at once.
// h must not be written until the copy is done (an Event recorded after it).
func (s *Stream) UploadAsync(dst DevicePtr, h *HostBuffer, off, n int) error {
	p, err := h.span(off, n)
	if err != nil || n == 0 {
		return err
	}
	return s.dev.check("cuMemcpyHtoDAsync", C.ncu_htod_async(s.dev.d.t, s.dev.ctx, C.CUdeviceptr(dst), p, C.size_t(4*n), s.s))
}

// DownloadAsync queues a copy of n floats from src into h (from float off).
func (s *Stream) DownloadAsync(h *HostBuffer, off, n int, src DevicePtr) error {
	p, err := h.span(off, n)
	if err != nil || n == 0 {
		return err
	}
	return s.dev.check("cuMemcpyDtoHAsync", C.ncu_dtoh_async(s.dev.d.t, s.dev.ctx, p, C.CUdeviceptr(src), C.size_t(4*n), s.s))
}

// CopyAsync queues a copy of n floats between two buffers of the stream's device.
func (s *Stream) CopyAsync(dst, src DevicePtr, n int) error {
	if n == 0 {
		return nil
	}
	return s.dev.check("cuMemcpyDtoDAsync", C.ncu_dtod_async(s.dev.d.t, s.dev.ctx, C.CUdeviceptr(dst), C.CUdeviceptr(src), C.size_t(4*n), s.s))
}

// CopyPeerAsync queues a copy of n floats from src on device srcDev to dst on device dstDev
// (either may be the stream's), through the host when the two cannot reach each other
// directly.
func (s *Stream) CopyPeerAsync(dst DevicePtr, dstDev *Device, src DevicePtr, srcDev *Device, n int) error {
	if n == 0 {
		return nil
	}
	return s.dev.check("cuMemcpyPeerAsync", C.ncu_peer_async(s.dev.d.t, s.dev.ctx, C.CUdeviceptr(dst), dstDev.ctx,
		C.CUdeviceptr(src), srcDev.ctx, C.size_t(4*n), s.s))
}

// FillAsync queues setting n floats at p to v.
func (s *Stream) FillAsync(p DevicePtr, n int, v float32) error {
	if n == 0 {
		return nil
	}
	return s.dev.check("cuMemsetD32Async", C.ncu_memset32_async(s.dev.d.t, s.dev.ctx, C.CUdeviceptr(p),
		C.uint(math.Float32bits(v)), C.size_t(n), s.s))
}

// Record marks the point the stream has reached in e.
func (s *Stream) Record(e *Event) error {
	return s.dev.check("cuEventRecord", C.ncu_event_record(s.dev.d.t, s.dev.ctx, e.e, s.s))
}

// Wait makes the stream's later work wait for e (recorded on any stream, of any device).
func (s *Stream) Wait(e *Event) error {
	return s.dev.check("cuStreamWaitEvent", C.ncu_stream_wait(s.dev.d.t, s.dev.ctx, s.s, e.e))
}

// Event is a point in a stream's work, for ordering streams and for timing.
type Event struct {
	dev *Device
	e   C.CUevent
}

// NewEvent creates an event; timing ones can measure the time between two of them.
func (dev *Device) NewEvent(timing bool) (*Event, error) {
	flags := C.uint(2) // CU_EVENT_DISABLE_TIMING
	if timing {
		flags = 0
	}
	var e C.CUevent
	if err := dev.check("cuEventCreate", C.ncu_event_create(dev.d.t, dev.ctx, &e, flags)); err != nil {
		return nil, err
	}
	return &Event{dev: dev, e: e}, nil
}

// Synchronize waits until the work before the event's last Record is done.
func (e *Event) Synchronize() error {
	return e.dev.check("cuEventSynchronize", C.ncu_event_sync(e.dev.d.t, e.dev.ctx, e.e))
}

// Close destroys the event.
func (e *Event) Close() error {
	return e.dev.check("cuEventDestroy", C.ncu_event_destroy(e.dev.d.t, e.dev.ctx, e.e))
}

// Elapsed is the device time between two recorded timing events.
func Elapsed(start, end *Event) (time.Duration, error) {
	var ms C.float
	if err := start.dev.check("cuEventElapsedTime", C.ncu_event_elapsed(start.dev.d.t, start.dev.ctx, &ms, start.e, end.e)); err != nil {
		return 0, err
	}
	return time.Duration(float64(ms) * float64(time.Millisecond)), nil
}

// Dim3 is a grid or block size; zero fields count as 1.
type Dim3 struct{ X, Y, Z uint32 }

func (d Dim3) norm() Dim3 {
	if d.Y == 0 {
		d.Y = 1
	}
	if d.Z == 0 {
		d.Z = 1
	}
	return d
}

// Launch queues kernel f on a grid of blocks with shared bytes of dynamic shared memory.
// Each argument is a DevicePtr, int32, uint32, int64, uint64, float32, float64, bool (as
// an int) or int (as an int32, which it must fit): the kernel's parameters, in order.
func (s *Stream) Launch(f *Function, grid, block Dim3, shared int, args ...any) error {
	var slots [C.NCU_MAX_ARGS]C.uint64_t
	if err := marshal(args, slots[:]); err != nil {
		return fmt.Errorf("cuda: launch %s: %w", f.name, err)
	}
	g, b := grid.norm(), block.norm()
	r := C.ncu_launch(s.dev.d.t, s.dev.ctx, f.f, C.uint(g.X), C.uint(g.Y), C.uint(g.Z),
		C.uint(b.X), C.uint(b.Y), C.uint(b.Z), C.uint(shared), s.s, &slots[0], C.int(len(args)))
	if err := s.dev.d.check("cuLaunchKernel", r); err != nil {
		return fmt.Errorf("cuda: cuda:%d: launch %s: %w", s.dev.Index, f.name, err)
	}
	return nil
}

// Run launches one of natssl's kernels by name (Runner), compiling them on first use.
func (s *Stream) Run(kernel string, grid, block Dim3, args ...any) error {
	f, err := s.dev.kernel(kernel)
	if err != nil {
		return err
	}
	return s.Launch(f, grid, block, 0, args...)
}

// marshal writes kernel arguments into 8-byte slots, the layout the launch trampolines
// point cuLaunchKernel at (a 4-byte argument in the low half: every supported platform is
// little-endian).
func marshal[S ~uint64](args []any, slots []S) error {
	if len(args) > len(slots) {
		return fmt.Errorf("%d arguments, at most %d", len(args), len(slots))
	}
	for i, a := range args {
		var v uint64
		switch x := a.(type) {
		case DevicePtr:
			v = uint64(x)
		case int32:
			v = uint64(uint32(x))
		case uint32:
			v = uint64(x)
		case int:
			if x < math.MinInt32 || x > math.MaxInt32 {
				return fmt.Errorf("argument %d: %d does not fit an int", i, x)
			}
			v = uint64(uint32(int32(x)))
		case int64:
			v = uint64(x)
		case uint64:
			v = x
		case float32:
			v = uint64(math.Float32bits(x))
		case float64:
			v = math.Float64bits(x)
		case bool:
			if x {
				v = 1
			}
		default:
			return fmt.Errorf("argument %d: unsupported type %T", i, a)
		}
		slots[i] = S(v)
	}
	return nil
}
