//go:build !amd64 || amd64.v3

package trainer

// refUnfused: on this target the Go compiler may fuse a multiply and an add in the Go
// references, so the bit-for-bit comparisons with the CUDA kernels are skipped.
const refUnfused = false
