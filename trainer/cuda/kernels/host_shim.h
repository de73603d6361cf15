// host_shim.h lets a C++ compiler build natssl's CUDA kernels for the CPU, so that machines
// without a GPU can check their syntax (g++ -fsyntax-only) and run them against the CPU ops
// (hostsim.go). It declares what CUDA C gives a kernel: the qualifiers, the thread and block
// coordinates, __syncthreads and the rounding intrinsics. host_sim.h defines the launcher.
#ifndef NATSSL_HOST_SHIM_H
#define NATSSL_HOST_SHIM_H

#include <math.h>

struct dim3 {
	unsigned x, y, z;
};

// A thread's coordinates are its own; the grid's and block's shapes are the launch's.
extern thread_local dim3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
// Blocks run one at a time, so one static copy of a block's shared memory serves them all.
#define __shared__ static

void __syncthreads();

// The rounding intrinsics: plain IEEE operations on the CPU (x86-64 and arm64 builds of the
// simulation are compiled with -ffp-contract=off, so nothing is fused).
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }

#endif
