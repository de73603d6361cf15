//go:build amd64 && !amd64.v3

package cuda

// refUnfused: the Go compiler rounds every float operation of the references separately on
// this target (amd64 before v3 has no FMA), as the kernels' _rn intrinsics and the host
// simulation do, so the kernels that claim to reproduce the CPU op bit for bit are held to it.
const refUnfused = true
