// clang_cuda_shim.h lets clang compile natssl's kernels as CUDA device code without the CUDA
// toolkit (clang -x cuda --cuda-device-only -nocudainc -nocudalib): the qualifiers as clang's
// CUDA attributes, the thread coordinates from clang's own header, and the intrinsic and math
// function the kernels use, as NVVM builtins. __syncthreads is a clang builtin.
#define __global__ __attribute__((global))
#define __device__ __attribute__((device))
#define __host__ __attribute__((host))
#define __shared__ __attribute__((shared))
#define __forceinline__ __inline__ __attribute__((always_inline))
#define __launch_bounds__(...) __attribute__((launch_bounds(__VA_ARGS__)))
#include <__clang_cuda_builtin_vars.h>
__device__ inline float __int_as_float(int i) { return __nvvm_bitcast_i2f(i); }
__device__ inline double sqrt(double x) { return __nvvm_sqrt_rn_d(x); }
