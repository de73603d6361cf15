//go:build amd64 && !amd64.v3

package trainer

// refUnfused: the Go compiler rounds every float operation of the Go references separately
// on this target (amd64 before v3 has no FMA), as the host simulation of the CUDA kernels
// does, so the kernels that claim the references' bits are held to them.
const refUnfused = true
