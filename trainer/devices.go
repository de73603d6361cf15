package trainer

import "fmt"

// AutoDevice is the train.devices entry that stands for the device following the process's
// local rank: one process per device, as mpirun and srun start them.
const AutoDevice = "auto"

// gpuCount is the number of GPUs this build can train on: none in a build without a GPU
// backend (a CUDA build sets it).
var gpuCount = func() int { return 0 }

// ResolveDevices returns the devices this process trains on: train.devices with "auto" made
// the GPU of the process's local rank (cuda:<local rank mod GPUs>) where the build has a GPU
// backend and the machine GPUs, and the CPU otherwise.
func ResolveDevices(devices []string, localRank int) []string {
	out := make([]string, len(devices))
	for i, d := range devices {
		if d != AutoDevice {
			out[i] = d
			continue
		}
		out[i] = "cpu"
		if n := gpuCount(); n > 0 {
			out[i] = fmt.Sprintf("cuda:%d", localRank%n)
		}
	}
	return out
}

// GPUCount is the number of GPUs this build can train on here: how many ranks a machine
// runs with train.devices [auto].
func GPUCount() int { return gpuCount() }
