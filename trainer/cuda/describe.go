package cuda

import (
	"fmt"
	"strings"
)

// Report is what Describe found: the driver, the libraries and the devices, or why a GPU
// cannot be used.
type Report struct {
	Libraries []Library    // driver first, then cuBLAS, NVRTC and cuDNN, those found
	Devices   []DeviceInfo // what the driver sees
	Err       error        // why no GPU can be used (nil when one can)
	Optional  []string     // optional libraries not found
}

// Describe looks for the driver and the libraries as Load does, and reports what it finds
// without failing: for `natssl version` and for diagnosing a machine.
func Describe(opts Options) Report {
	var r Report
	s := &searcher{opts: opts}
	d, err := loadDriver(s)
	if err != nil {
		r.Err = err
		return r
	}
	r.Libraries = append(r.Libraries, d.libs...)
	if b, err := loadCublas(s, d.version); err != nil {
		r.Err = err
	} else {
		r.Libraries = append(r.Libraries, b.info)
	}
	if n, err := loadNVRTC(s, d.version); err != nil {
		if r.Err == nil {
			r.Err = err
		}
	} else {
		r.Libraries = append(r.Libraries, n.info)
	}
	if info, err := loadCudnn(s); err != nil {
		r.Optional = append(r.Optional, "cudnn (libcudnn.so.9)")
	} else {
		r.Libraries = append(r.Libraries, info)
	}
	for i := 0; i < d.count; i++ {
		info, err := d.deviceInfo(i)
		if err != nil {
			if r.Err == nil {
				r.Err = err
			}
			break
		}
		r.Devices = append(r.Devices, info)
	}
	if r.Err == nil && len(r.Devices) == 0 {
		r.Err = fmt.Errorf("cuda: %w: %s", ErrNoDevice, d.countText())
	}
	return r
}

// String is the report as lines for `natssl version`:
//
//	cuda: driver 13.0 at /usr/lib/x86_64-linux-gnu/libcuda.so.1 (dynamic loader)
//	cuda: cublas 13.0.2 at …/nvidia/cu13/lib/libcublas.so.13 (python site-packages)
//	cuda:0 NVIDIA H200 (sm_90, 132 SMs, 139.81 GiB)
func (r Report) String() string {
	var b strings.Builder
	for _, l := range r.Libraries {
		fmt.Fprintf(&b, "cuda: %s %s at %s (%s)", l.Name, l.Version, l.Path, l.From)
		if l.Name == "cudnn" {
			b.WriteString(", not used by natssl yet")
		}
		b.WriteByte('\n')
	}
	for _, o := range r.Optional {
		fmt.Fprintf(&b, "cuda: %s not found (optional)\n", o)
	}
	for _, d := range r.Devices {
		fmt.Fprintf(&b, "%s\n", d)
	}
	if r.Err != nil {
		fmt.Fprintf(&b, "cuda: unavailable: %v\n", strings.TrimPrefix(r.Err.Error(), "cuda: "))
	}
	return b.String()
}
