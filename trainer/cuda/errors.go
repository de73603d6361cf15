package cuda

import (
	"errors"
	"fmt"
)

// The conditions a caller tells apart with errors.Is.
var (
	// ErrNoDriver: libcuda.so.1 was not found (the error names every place searched).
	ErrNoDriver = errors.New("no CUDA driver found")
	// ErrNoLibrary: a CUDA library (cuBLAS, NVRTC) was not found.
	ErrNoLibrary = errors.New("CUDA library not found")
	// ErrNoDevice: a device index beyond the devices the driver sees.
	ErrNoDevice = errors.New("no such CUDA device")
	// ErrTooOld: a driver, library or device older than natssl supports.
	ErrTooOld = errors.New("too old")
	// ErrOutOfMemory: an allocation the device could not satisfy (see MemoryError).
	ErrOutOfMemory = errors.New("out of device memory")
)

// cudaErrorOutOfMemory is CUDA_ERROR_OUT_OF_MEMORY (and CUBLAS_STATUS_ALLOC_FAILED is 3).
const (
	cudaErrorOutOfMemory  = 2
	cudaErrorNoDevice     = 100
	cublasStatusAllocFail = 3
)

// Error is a CUDA library call that failed: the call, its status code and the library's
// name for it.
type Error struct {
	Lib  string // driver, cublas, nvrtc
	Op   string // the function called: cuMemAlloc, cublasSgemm, nvrtcCompileProgram
	Code int
	Name string // CUDA_ERROR_OUT_OF_MEMORY, CUBLAS_STATUS_EXECUTION_FAILED, ...
}

func (e *Error) Error() string {
	if e.Name == "" {
		return fmt.Sprintf("%s: status %d", e.Op, e.Code)
	}
	return fmt.Sprintf("%s: %s (%d)", e.Op, e.Name, e.Code)
}

// Is makes an out-of-memory status of the driver or of cuBLAS match ErrOutOfMemory.
func (e *Error) Is(target error) bool {
	return target == ErrOutOfMemory &&
		(e.Lib == "driver" && e.Code == cudaErrorOutOfMemory || e.Lib == "cublas" && e.Code == cublasStatusAllocFail)
}

// MemoryError is a device allocation that failed for lack of memory, with the sizes a
// caller needs to say what to change ("batch size B needs about X GiB, cuda:0 has Y").
type MemoryError struct {
	Device    int
	Requested int64 // bytes asked for
	Free      int64 // bytes free on the device when it failed (0 when unknown)
	Total     int64 // the device's memory
	Err       error
}

func (e *MemoryError) Error() string {
	return fmt.Sprintf("cuda:%d: out of device memory: %s requested, %s free of %s",
		e.Device, gib(e.Requested), gib(e.Free), gib(e.Total))
}

func (e *MemoryError) Unwrap() []error { return []error{ErrOutOfMemory, e.Err} }

// gib formats bytes as GiB (or MiB below one GiB).
func gib(b int64) string {
	if b < 1<<30 {
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
}
