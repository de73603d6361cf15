// host_shim.h lets a C++ compiler build natssl's CUDA kernels for the CPU, so that machines
// without a GPU can check their syntax (g++ -fsyntax-only) and run them against the CPU ops
// (hostsim.go). It declares what CUDA C gives a kernel: the qualifiers, the thread and block
// coordinates, __syncthreads and the bit cast the kernels use. host_sim.h defines the launcher.
#ifndef NATSSL_HOST_SHIM_H
#define NATSSL_HOST_SHIM_H

#include <math.h>
#include <string.h>

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

inline float __int_as_float(int i) {
	float f;
	memcpy(&f, &i, sizeof f);
	return f;
}

#endif
