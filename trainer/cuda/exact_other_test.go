//go:build !amd64 || amd64.v3

package cuda

// refUnfused: on this target the Go compiler may fuse a multiply and an add in the
// references, so bit-for-bit comparisons fall back to the tolerance.
const refUnfused = false
