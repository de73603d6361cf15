//go:build cgo

package trainer

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/trainer/cuda"
)

// The process's CUDA driver with cuBLAS and NVRTC, loaded once (libraries stay loaded for
// the life of the process), from where NATSSL_CUDA_LIB_DIR, the dynamic loader and Python's
// site-packages have them.
var cudaLoad struct {
	once sync.Once
	drv  *cuda.Driver
	err  error
}

func cudaDriver() (*cuda.Driver, error) {
	cudaLoad.once.Do(func() { cudaLoad.drv, cudaLoad.err = cuda.Load(cuda.OptionsFromEnv()) })
	return cudaLoad.drv, cudaLoad.err
}

// openGPU opens cuda:index and its kernels (compiled by NVRTC on first use, then read from
// the cache).
func openGPU(index int) (*cuda.Device, error) {
	drv, err := cudaDriver()
	if err != nil {
		return nil, fmt.Errorf("trainer: cuda:%d: %w", index, err)
	}
	dev, err := drv.Device(index)
	if err != nil {
		return nil, fmt.Errorf("trainer: %w", err)
	}
	if _, err := dev.LoadKernels(); err != nil {
		return nil, fmt.Errorf("trainer: %w", err)
	}
	return dev, nil
}

// replicaReserve is the device memory a replica takes beside its buffers: cuBLAS's
// workspace and its streams.
const replicaReserve = 64 << 20

// preflight refuses, before anything is allocated, GPUs that cannot train this net: no driver
// or libraries, an index out of range, a driver or GPU too old, kernels that do not compile,
// or too little free memory for this process's share of the batch (spec.batch over ranks
// processes). It is quiet for CPU devices and on the simulation.
func preflight(spec netSpec, ranks int, opt buildOptions) error {
	parsed, gpus, err := parseDevices(spec.devices)
	if err != nil || gpus == 0 {
		return err
	}
	if opt.gpu.sim != nil || opt.gpu.count {
		return nil
	}
	ranks = max(ranks, 1)
	per := map[int]int{} // replicas per GPU
	for _, d := range parsed {
		per[d.Index]++
	}
	indexes := make([]int, 0, len(per))
	for i := range per {
		indexes = append(indexes, i)
	}
	sort.Ints(indexes)
	devs := map[int]*cuda.Device{}
	for _, i := range indexes {
		dev, err := openGPU(i)
		if err != nil {
			return err
		}
		devs[i] = dev
	}
	share := spec
	share.batch /= ranks
	need, err := deviceMemory(share, opt)
	if err != nil {
		return err
	}
	for _, i := range indexes {
		dev := devs[i]
		free, total, err := dev.MemInfo()
		if err != nil {
			return fmt.Errorf("trainer: %w", err)
		}
		want := need[i] + int64(per[i])*replicaReserve
		if want > free {
			over := ""
			if ranks > 1 {
				over = fmt.Sprintf(" over %d ranks", ranks)
			}
			return fmt.Errorf("trainer: %s: data.batch_size %d%s needs about %s of its memory (%d replica(s) of %d images at %d px on it, %s %s), and it has %s free of %s: lower data.batch_size, or spread train.devices over more GPUs",
				dev, spec.batch, over, gibs(want), per[i], share.batch/len(spec.devices), spec.groups[0].size, spec.model.Backbone, precisionOf(opt), gibs(free), gibs(total))
		}
	}
	return nil
}

func precisionOf(opt buildOptions) string {
	if opt.gpu.precision == "" {
		return configs.PrecisionFP32
	}
	return opt.gpu.precision
}

func gibs(b int64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }

// deviceMemory is the device memory, in bytes per GPU index, that a net of spec allocates:
// the net built without a GPU, counting.
func deviceMemory(spec netSpec, opt buildOptions) (map[int]int64, error) {
	opt.gpu.count, opt.gpu.sim, opt.ranks = true, nil, nil
	n, err := newSpecNet(spec, opt)
	if err != nil {
		return nil, err
	}
	defer n.close()
	return n.dev.(*gpuNet).counts, nil
}

// cudaGPUs is gpuCount in this build: the GPUs the driver sees; none without a driver.
func cudaGPUs() (int, error) {
	drv, err := cudaDriver()
	switch {
	case errors.Is(err, cuda.ErrNoDriver):
		return 0, nil
	case err != nil:
		return 0, err
	}
	return drv.DeviceCount(), nil
}

func init() { gpuCount = cudaGPUs }

// DescribeCUDA is what `natssl version` prints of CUDA: the driver, the libraries found
// (paths) and the GPUs, or why there are none.
func DescribeCUDA() string { return cuda.Describe(cuda.OptionsFromEnv()).String() }
