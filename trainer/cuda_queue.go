//go:build cgo

package trainer

import (
	"errors"
	"fmt"
	"sync"

	"github.com/natssl/natssl/trainer/cuda"
)

// gpuQueue is where a replica's work runs on a GPU: a compute stream (kernels and cuBLAS
// products, in order) and a copy stream beside it, for the input's upload and the running
// statistics' copies, which need not wait for the computation. streamQueue is one on a
// real GPU; simQueue runs the same kernels on the host simulation (tests), countQueue only
// counts the memory a build asks for.
type gpuQueue interface {
	cuda.Runner
	cuda.Gemm
	SetTF32(on bool) error
	device() int // the GPU's index
	// alloc returns n floats of device memory, zeroed before the compute stream's next work.
	alloc(n int) (cuda.DevicePtr, error)
	// inputBuffer is the host buffer of n floats (page-locked on a GPU) of input slot 0 or 1.
	inputBuffer(slot, n int) ([]float32, error)
	// download copies to the host after the compute stream's work; upload copies from the
	// host before its next work. Both return when the copy is done.
	download(dst []float32, src cuda.DevicePtr) error
	upload(dst cuda.DevicePtr, src []float32) error
	// sideDownload and sideUpload copy on the copy stream, without waiting for the
	// computation; they return when the copy is done.
	sideDownload(dst []float32, src cuda.DevicePtr) error
	sideUpload(dst cuda.DevicePtr, src []float32) error
	// uploadInput copies input slot's buffer to dst on the copy stream once the forward
	// pass before the last has read dst, and makes the compute stream's next work wait for
	// it; waitInput returns when slot's last upload is done (its buffer may be rewritten).
	uploadInput(dst cuda.DevicePtr, slot, n int) error
	waitInput(slot int) error
	// copyFrom queues, on the compute stream, a copy of n floats from src on from's device
	// to dst on to's device (either may be this queue's).
	copyPeer(dst cuda.DevicePtr, to gpuQueue, src cuda.DevicePtr, from gpuQueue, n int) error
	// mark records event e (evBackward, evUpdate, evTarget) at the end of the compute stream's work;
	// await makes the compute stream's next work wait for from's last mark of e.
	mark(e int) error
	await(from gpuQueue, e int) error
	sync() error
	close() error
}

// The events a queue marks.
const (
	evBackward = iota // a replica's backward pass: the first replica's sum reads its gradients
	evUpdate          // the optimizer's step and the parameters' copies to the other GPUs
	evTarget          // a GPU's target-network EMA step, which its other replicas read
	numEvents
)

// streamQueue is a replica's queue on a real GPU.
type streamQueue struct {
	dev      *cuda.Device
	s, cs    *cuda.Stream // compute, copy
	blas     *cuda.BLAS
	events   [numEvents]*cuda.Event
	up       [2]*cuda.Event // each input slot's last upload
	fwd      *cuda.Event    // marked before each forward pass: uploads wait for it
	hosts    [2]*cuda.HostBuffer
	allocs   []cuda.DevicePtr
	released bool
}

var (
	_ gpuQueue = (*streamQueue)(nil)
	_ gpuQueue = (*simQueue)(nil)
	_ gpuQueue = (*countQueue)(nil)
)

func newStreamQueue(dev *cuda.Device, tf32 bool) (q *streamQueue, err error) {
	q = &streamQueue{dev: dev}
	defer func() {
		if err != nil {
			q.close()
		}
	}()
	if q.s, err = dev.NewStream(); err != nil {
		return nil, err
	}
	if q.cs, err = dev.NewStream(); err != nil {
		return nil, err
	}
	if q.blas, err = q.s.NewBLAS(); err != nil {
		return nil, err
	}
	if err = q.blas.SetTF32(tf32); err != nil {
		return nil, err
	}
	for i := range q.events {
		if q.events[i], err = dev.NewEvent(false); err != nil {
			return nil, err
		}
	}
	for i := range q.up {
		if q.up[i], err = dev.NewEvent(false); err != nil {
			return nil, err
		}
	}
	if q.fwd, err = dev.NewEvent(false); err != nil {
		return nil, err
	}
	return q, nil
}

func (q *streamQueue) Run(kernel string, grid, block cuda.Dim3, args ...any) error {
	return q.s.Run(kernel, grid, block, args...)
}
func (q *streamQueue) SgemmRowMajor(transA, transB bool, m, n, k int, alpha float32, a cuda.DevicePtr, lda int,
	b cuda.DevicePtr, ldb int, beta float32, c cuda.DevicePtr, ldc int) error {
	return q.blas.SgemmRowMajor(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
func (q *streamQueue) SetTF32(on bool) error { return q.blas.SetTF32(on) }
func (q *streamQueue) device() int           { return q.dev.Index }

func (q *streamQueue) alloc(n int) (cuda.DevicePtr, error) {
	p, err := q.dev.AllocFloats(n)
	if err != nil {
		return 0, err
	}
	q.allocs = append(q.allocs, p)
	return p, q.s.FillAsync(p, n, 0)
}

func (q *streamQueue) inputBuffer(slot, n int) ([]float32, error) {
	if q.hosts[slot] == nil {
		h, err := q.dev.AllocHost(n)
		if err != nil {
			return nil, err
		}
		q.hosts[slot] = h
	}
	return q.hosts[slot].Floats()[:n], nil
}

func (q *streamQueue) download(dst []float32, src cuda.DevicePtr) error {
	return q.s.Download(dst, src)
}
func (q *streamQueue) upload(dst cuda.DevicePtr, src []float32) error { return q.s.Upload(dst, src) }
func (q *streamQueue) sideDownload(dst []float32, src cuda.DevicePtr) error {
	return q.cs.Download(dst, src)
}
func (q *streamQueue) sideUpload(dst cuda.DevicePtr, src []float32) error {
	return q.cs.Upload(dst, src)
}

func (q *streamQueue) uploadInput(dst cuda.DevicePtr, slot, n int) error {
	for _, f := range []func() error{
		func() error { return q.cs.Wait(q.fwd) },
		func() error { return q.cs.UploadAsync(dst, q.hosts[slot], 0, n) },
		func() error { return q.cs.Record(q.up[slot]) },
		func() error { return q.s.Wait(q.up[slot]) },
		func() error { return q.s.Record(q.fwd) },
	} {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

func (q *streamQueue) waitInput(slot int) error { return q.up[slot].Synchronize() }

func (q *streamQueue) copyPeer(dst cuda.DevicePtr, to gpuQueue, src cuda.DevicePtr, from gpuQueue, n int) error {
	td, fd := to.(*streamQueue).dev, from.(*streamQueue).dev
	if td == fd {
		return q.s.CopyAsync(dst, src, n)
	}
	return q.s.CopyPeerAsync(dst, td, src, fd, n)
}

func (q *streamQueue) mark(e int) error { return q.s.Record(q.events[e]) }
func (q *streamQueue) await(from gpuQueue, e int) error {
	return q.s.Wait(from.(*streamQueue).events[e])
}

func (q *streamQueue) sync() error {
	if err := q.s.Synchronize(); err != nil {
		return err
	}
	return q.cs.Synchronize()
}

// close waits for the queue's work and frees what it holds.
func (q *streamQueue) close() error {
	if q.released {
		return nil
	}
	q.released = true
	var errs []error
	if q.s != nil && q.cs != nil {
		errs = append(errs, q.sync())
	}
	for _, p := range q.allocs {
		errs = append(errs, q.dev.Free(p))
	}
	for _, h := range q.hosts {
		if h != nil {
			errs = append(errs, h.Free())
		}
	}
	for _, e := range append(append(q.events[:], q.up[:]...), q.fwd) {
		if e != nil {
			errs = append(errs, e.Close())
		}
	}
	if q.blas != nil {
		errs = append(errs, q.blas.Close())
	}
	for _, s := range []*cuda.Stream{q.s, q.cs} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}

// simulation is the host simulation of the kernels standing in for GPUs in tests: devices
// of them, whose memory is the simulation's guarded host memory, so that a kernel or a copy
// past a buffer's end faults.
type simulation struct {
	h       *cuda.HostRunner
	devices int

	mu       sync.Mutex
	launched map[string]bool // the kernels run, for the tests' coverage check
}

// simQueue is a replica's queue on the host simulation: everything runs at once, in order.
type simQueue struct {
	sim    *simulation
	dev    int
	allocs []cuda.DevicePtr
	hosts  [2][]float32
}

func (q *simQueue) Run(kernel string, grid, block cuda.Dim3, args ...any) error {
	q.sim.mu.Lock()
	if q.sim.launched == nil {
		q.sim.launched = map[string]bool{}
	}
	q.sim.launched[kernel] = true
	q.sim.mu.Unlock()
	return q.sim.h.Run(kernel, grid, block, args...)
}
func (q *simQueue) SgemmRowMajor(transA, transB bool, m, n, k int, alpha float32, a cuda.DevicePtr, lda int,
	b cuda.DevicePtr, ldb int, beta float32, c cuda.DevicePtr, ldc int) error {
	return q.sim.h.SgemmRowMajor(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
func (q *simQueue) SetTF32(bool) error { return nil }
func (q *simQueue) device() int        { return q.dev }

func (q *simQueue) alloc(n int) (cuda.DevicePtr, error) {
	p, err := q.sim.h.Alloc(4 * int64(max(n, 1)))
	if err != nil {
		return 0, err
	}
	q.allocs = append(q.allocs, p)
	return p, nil
}

func (q *simQueue) inputBuffer(slot, n int) ([]float32, error) {
	if len(q.hosts[slot]) < n {
		q.hosts[slot] = make([]float32, n)
	}
	return q.hosts[slot][:n], nil
}

func (q *simQueue) download(dst []float32, src cuda.DevicePtr) error {
	return q.sim.h.Download(dst, src)
}
func (q *simQueue) upload(dst cuda.DevicePtr, src []float32) error { return q.sim.h.Upload(dst, src) }
func (q *simQueue) sideDownload(dst []float32, src cuda.DevicePtr) error {
	return q.sim.h.Download(dst, src)
}
func (q *simQueue) sideUpload(dst cuda.DevicePtr, src []float32) error {
	return q.sim.h.Upload(dst, src)
}
func (q *simQueue) uploadInput(dst cuda.DevicePtr, slot, n int) error {
	return q.sim.h.Upload(dst, q.hosts[slot][:n])
}
func (q *simQueue) waitInput(int) error { return nil }

func (q *simQueue) copyPeer(dst cuda.DevicePtr, _ gpuQueue, src cuda.DevicePtr, _ gpuQueue, n int) error {
	buf := make([]float32, n)
	if err := q.sim.h.Download(buf, src); err != nil {
		return err
	}
	return q.sim.h.Upload(dst, buf)
}

func (q *simQueue) mark(int) error            { return nil }
func (q *simQueue) await(gpuQueue, int) error { return nil }
func (q *simQueue) sync() error               { return nil }
func (q *simQueue) close() error {
	for _, p := range q.allocs {
		q.sim.h.Free(p)
	}
	q.allocs = nil
	return nil
}

// countQueue counts the device memory a build asks for, in bytes per GPU, and runs nothing.
type countQueue struct {
	dev   int
	bytes map[int]int64 // shared by the queues of one count
}

// allocGranule is what an allocation takes at least, and rounds up to: cuMemAlloc's
// alignment.
const allocGranule = 512

var errCounting = errors.New("trainer: a build that counts device memory runs nothing")

func (q *countQueue) Run(string, cuda.Dim3, cuda.Dim3, ...any) error { return errCounting }
func (q *countQueue) SgemmRowMajor(bool, bool, int, int, int, float32, cuda.DevicePtr, int, cuda.DevicePtr, int,
	float32, cuda.DevicePtr, int) error {
	return errCounting
}
func (q *countQueue) SetTF32(bool) error { return nil }
func (q *countQueue) device() int        { return q.dev }
func (q *countQueue) alloc(n int) (cuda.DevicePtr, error) {
	b := (4*int64(n) + allocGranule - 1) / allocGranule * allocGranule
	q.bytes[q.dev] += b
	return 0, nil
}
func (q *countQueue) inputBuffer(int, int) ([]float32, error)      { return nil, nil }
func (q *countQueue) download([]float32, cuda.DevicePtr) error     { return errCounting }
func (q *countQueue) upload(cuda.DevicePtr, []float32) error       { return errCounting }
func (q *countQueue) sideDownload([]float32, cuda.DevicePtr) error { return errCounting }
func (q *countQueue) sideUpload(cuda.DevicePtr, []float32) error   { return errCounting }
func (q *countQueue) uploadInput(cuda.DevicePtr, int, int) error   { return errCounting }
func (q *countQueue) waitInput(int) error                          { return errCounting }
func (q *countQueue) mark(int) error                               { return errCounting }
func (q *countQueue) await(gpuQueue, int) error                    { return errCounting }
func (q *countQueue) sync() error                                  { return nil }
func (q *countQueue) close() error                                 { return nil }
func (q *countQueue) copyPeer(cuda.DevicePtr, gpuQueue, cuda.DevicePtr, gpuQueue, int) error {
	return errCounting
}

// errWrap names the device of a queue in an error.
func errWrap(q gpuQueue, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("cuda:%d: %w", q.device(), err)
}
