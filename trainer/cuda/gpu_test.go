package cuda

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
)

// The tests named TestGPU run on a GPU: build them here with
//
//	go test -c -o cuda.test ./trainer/cuda
//
// (the binary needs only libc), carry it to a machine with an NVIDIA GPU and run
//
//	./cuda.test -test.run '^TestGPU' -test.v
//
// NATSSL_CUDA_LIB_DIR points at the CUDA libraries if neither the dynamic loader nor
// Python's site-packages has them. The tests skip, saying why, only where there is no CUDA
// driver or no GPU; any other failure (a library missing or too old, a kernel that does not
// compile) fails them.

var (
	gpuOnce  sync.Once
	gpuDrv   *Driver
	gpuDev   *Device
	gpuSkip  string
	gpuErr   error
	gpuCache string
)

func gpu(t testing.TB) *Device {
	t.Helper()
	gpuOnce.Do(func() {
		opts := OptionsFromEnv()
		if gpuCache, gpuErr = os.MkdirTemp("", "natssl-cuda-cache-"); gpuErr != nil {
			return
		}
		opts.CacheDir = gpuCache
		gpuDrv, gpuErr = Load(opts)
		switch {
		case errors.Is(gpuErr, ErrNoDriver):
			gpuSkip, gpuErr = "no GPU here: "+gpuErr.Error(), nil
			return
		case gpuErr != nil:
			return
		case gpuDrv.DeviceCount() == 0:
			gpuSkip = "no GPU here: " + gpuDrv.countText()
			return
		}
		gpuDev, gpuErr = gpuDrv.Device(0)
	})
	if gpuSkip != "" {
		t.Skip(gpuSkip)
	}
	if gpuErr != nil {
		t.Fatal(gpuErr)
	}
	return gpuDev
}

func gpuStream(t testing.TB, dev *Device) *Stream {
	t.Helper()
	s, err := dev.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// deviceBackend is a GPU's memory for the tests, with a stream and cuBLAS handle.
type deviceBackend struct {
	*Stream
	dev  *Device
	blas *BLAS
}

func (b *deviceBackend) alloc(t *testing.T, n int) DevicePtr {
	t.Helper()
	p, err := b.dev.AllocFloats(max(n, 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.dev.Free(p) })
	if err := b.FillAsync(p, max(n, 1), 0); err != nil {
		t.Fatal(err)
	}
	return p
}

func (b *deviceBackend) upload(t *testing.T, p DevicePtr, x []float32) {
	t.Helper()
	if err := b.Upload(p, x); err != nil {
		t.Fatal(err)
	}
}

func (b *deviceBackend) download(t *testing.T, p DevicePtr, n int) []float32 {
	t.Helper()
	x := make([]float32, n)
	if err := b.Download(x, p); err != nil {
		t.Fatal(err)
	}
	return x
}

func TestGPUDescribe(t *testing.T) {
	dev := gpu(t)
	r := Describe(OptionsFromEnv())
	t.Logf("\n%s", r)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if len(r.Devices) != gpuDrv.DeviceCount() || r.Devices[0].Name != dev.Name {
		t.Errorf("devices %+v, want %d with cuda:0 %s", r.Devices, gpuDrv.DeviceCount(), dev.Name)
	}
}

// TestGPUKernelCache: the first load compiles and writes the cache; a later one reads it;
// a damaged cache file is compiled again and replaced.
func TestGPUKernelCache(t *testing.T) {
	gpu(t)
	opts := OptionsFromEnv()
	opts.CacheDir = t.TempDir()
	open := func() (KernelCache, *Device) {
		d, err := Load(opts)
		if err != nil {
			t.Fatal(err)
		}
		dev, err := d.Device(0)
		if err != nil {
			t.Fatal(err)
		}
		info, err := dev.LoadKernels()
		if err != nil {
			t.Fatal(err)
		}
		return info, dev
	}
	first, dev := open()
	dev.Close()
	if first.Hit || first.Err != nil || !strings.HasPrefix(first.Path, opts.CacheDir) {
		t.Fatalf("first load: %+v", first)
	}
	if _, err := os.Stat(first.Path); err != nil {
		t.Fatal(err)
	}
	second, dev := open()
	dev.Close()
	if !second.Hit || second.Path != first.Path {
		t.Fatalf("second load: %+v", second)
	}
	if err := os.WriteFile(first.Path, []byte("damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	third, dev := open()
	dev.Close()
	if third.Hit || third.Err != nil {
		t.Fatalf("after damage: %+v", third)
	}
	if data, _ := os.ReadFile(first.Path); string(data) == "damaged" {
		t.Error("the damaged file was not replaced")
	}
}
