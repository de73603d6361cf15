package cuda

/*
#include <stdlib.h>
#include "capi.h"
*/
import "C"

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"unsafe"
)

// MinDriverVersion is the oldest CUDA driver natssl accepts (12.0): the kernels are
// compiled by NVRTC 12 or later, whose binaries need a driver of at least that major version.
const MinDriverVersion = 12000

// The library versions searched for, newest first; a driver runs libraries of its own major
// version or older.
var (
	cublasMajors = []int{13, 12}
	nvrtcMajors  = []int{13, 12}
)

// Driver is the CUDA driver API with cuBLAS and NVRTC, loaded and ready to open devices.
// The libraries stay loaded for the life of the process (NVIDIA's libraries do not
// support being unloaded while contexts exist).
type Driver struct {
	opts    Options
	t       *C.ncu_driver
	version int
	count   int
	initErr error // why cuInit found no device, when it did not
	libs    []Library
	blas    *cublasLib
	rtc     *nvrtcLib

	mu      sync.Mutex
	devices map[int]*Device
}

// Load finds and opens the driver, cuBLAS and NVRTC and initialises the driver. It fails with one line naming what is missing and where it looked, or what
// is too old. A machine whose driver sees no GPU loads with DeviceCount 0.
func Load(opts Options) (*Driver, error) {
	s := &searcher{opts: opts}
	d, err := loadDriver(s)
	if err != nil {
		return nil, err
	}
	if d.blas, err = loadCublas(s, d.version); err != nil {
		return nil, err
	}
	d.libs = append(d.libs, d.blas.info)
	if d.rtc, err = loadNVRTC(s, d.version); err != nil {
		return nil, err
	}
	d.libs = append(d.libs, d.rtc.info)
	return d, nil
}

// loadDriver opens libcuda.so.1, checks its version and initialises it.
func loadDriver(s *searcher) (*Driver, error) {
	lib, info, err := s.find(libSpec{name: "driver", sonames: []string{"libcuda.so.1"}, probe: "cuInit"})
	if err != nil {
		return nil, fmt.Errorf("cuda: %w: %w", ErrNoDriver, err)
	}
	t := (*C.ncu_driver)(C.calloc(1, C.size_t(unsafe.Sizeof(C.ncu_driver{}))))
	if missing := C.ncu_bind_driver(lib.h, t); missing != nil {
		C.free(unsafe.Pointer(t))
		return nil, fmt.Errorf("cuda: %w: %s lacks %s", ErrNoDriver, info.Path, C.GoString(missing))
	}
	d := &Driver{opts: s.opts, t: t, devices: map[int]*Device{}}
	var v C.int
	if err := d.check("cuDriverGetVersion", C.ncu_driver_version(t, &v)); err != nil {
		return nil, fmt.Errorf("cuda: %s: %w", info.Path, err)
	}
	d.version = int(v)
	info.Version = versionString(d.version)
	if d.version < MinDriverVersion {
		return nil, fmt.Errorf("cuda: driver %s (%s) is %w: natssl needs CUDA %s or later",
			info.Version, info.Path, ErrTooOld, versionString(MinDriverVersion))
	}
	d.libs = append(d.libs, info)
	if r := C.ncu_init(t); r != 0 {
		err := d.check("cuInit", r)
		if int(r) != cudaErrorNoDevice {
			return nil, fmt.Errorf("cuda: %s: %w", info.Path, err)
		}
		d.initErr = err
		return d, nil
	}
	var n C.int
	if err := d.check("cuDeviceGetCount", C.ncu_device_count(t, &n)); err != nil {
		return nil, fmt.Errorf("cuda: %w", err)
	}
	d.count = int(n)
	return d, nil
}

// versionString turns the API's 1000·major + 10·minor into "major.minor".
func versionString(v int) string { return fmt.Sprintf("%d.%d", v/1000, v%1000/10) }

// majorsFor lists the sonames of the majors a driver of the given version can run, and
// says which it leaves out.
func majorsFor(prefix string, majors []int, driver int) (sonames []string, skipped string) {
	var left []string
	for _, m := range majors {
		so := fmt.Sprintf("%s%d", prefix, m)
		if m*1000 > driver {
			left = append(left, so)
			continue
		}
		sonames = append(sonames, so)
	}
	if len(left) > 0 {
		skipped = fmt.Sprintf("%s not tried: driver %s runs CUDA %d libraries at most",
			strings.Join(left, ", "), versionString(driver), driver/1000)
	}
	return sonames, skipped
}

// Version is the driver's CUDA version (1000·major + 10·minor).
func (d *Driver) Version() int { return d.version }

// DeviceCount is the number of GPUs the driver sees.
func (d *Driver) DeviceCount() int { return d.count }

// Libraries lists the libraries loaded: the driver, cuBLAS and NVRTC.
func (d *Driver) Libraries() []Library { return slices.Clone(d.libs) }

// Device opens device i (cuda:i) with its primary context, once per driver: later calls
// return the same Device. It refuses an index out of range and a device that NVRTC cannot
// compile for.
func (d *Driver) Device(i int) (*Device, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if dev, ok := d.devices[i]; ok {
		return dev, nil
	}
	if i < 0 || i >= d.count {
		return nil, fmt.Errorf("cuda: cuda:%d: %w: %s", i, ErrNoDevice, d.countText())
	}
	info, err := d.deviceInfo(i)
	if err != nil {
		return nil, err
	}
	if _, err := d.rtc.target(info.Major*10 + info.Minor); err != nil {
		return nil, fmt.Errorf("cuda: cuda:%d (%s): %w", i, info.Name, err)
	}
	var ctx C.CUcontext
	if err := d.check("cuDevicePrimaryCtxRetain", C.ncu_ctx_retain(d.t, C.int(i), &ctx)); err != nil {
		return nil, fmt.Errorf("cuda: cuda:%d: %w", i, err)
	}
	dev := &Device{DeviceInfo: info, d: d, ctx: ctx}
	d.devices[i] = dev
	return dev, nil
}

// countText says how many devices there are, for the out-of-range error.
func (d *Driver) countText() string {
	switch {
	case d.count == 0 && d.initErr != nil:
		return fmt.Sprintf("the driver sees no GPU (%v)", d.initErr)
	case d.count == 0:
		return "the driver sees no GPU"
	case d.count == 1:
		return "this machine has 1 (cuda:0)"
	}
	return fmt.Sprintf("this machine has %d (cuda:0 to cuda:%d)", d.count, d.count-1)
}

// DeviceInfo describes a GPU.
type DeviceInfo struct {
	Index        int
	Name         string
	Major, Minor int   // compute capability
	SMs          int   // multiprocessors
	Memory       int64 // bytes
}

// Arch is the device's architecture as NVRTC names it: sm_90.
func (i DeviceInfo) Arch() string { return fmt.Sprintf("sm_%d%d", i.Major, i.Minor) }

func (i DeviceInfo) String() string {
	return fmt.Sprintf("cuda:%d %s (%s, %d SMs, %s)", i.Index, i.Name, i.Arch(), i.SMs, gib(i.Memory))
}

func (d *Driver) deviceInfo(i int) (DeviceInfo, error) {
	var name [256]C.char
	var major, minor, sms C.int
	var total C.size_t
	r := C.ncu_device_info(d.t, C.int(i), &name[0], C.int(len(name)), &major, &minor, &sms, &total)
	if err := d.check("cuDeviceGet", r); err != nil {
		return DeviceInfo{}, fmt.Errorf("cuda: cuda:%d: %w", i, err)
	}
	return DeviceInfo{Index: i, Name: C.GoString(&name[0]), Major: int(major), Minor: int(minor),
		SMs: int(sms), Memory: int64(total)}, nil
}

// check turns a driver status into an *Error named by the driver (nil for success).
func (d *Driver) check(op string, r C.CUresult) error {
	if r == 0 {
		return nil
	}
	e := &Error{Lib: "driver", Op: op, Code: int(r)}
	var s *C.char
	if C.ncu_error_name(d.t, r, &s) == 0 && s != nil {
		e.Name = C.GoString(s)
	}
	return e
}
