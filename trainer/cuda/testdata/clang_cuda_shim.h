// clang_cuda_shim.h lets clang compile natssl's kernels as CUDA device code without the CUDA
// toolkit (clang -x cuda --cuda-device-only -nocudainc -nocudalib): the qualifiers as clang's
// CUDA attributes, the thread coordinates from clang's own header, and the few intrinsics
// and math functions the kernels use, as NVVM builtins or libdevice's __nv_ functions (left
// as external declarations in the PTX). __syncthreads is a clang builtin.
#define __global__ __attribute__((global))
#define __device__ __attribute__((device))
#define __host__ __attribute__((host))
#define __shared__ __attribute__((shared))
#define __forceinline__ __inline__ __attribute__((always_inline))
#define __launch_bounds__(...) __attribute__((launch_bounds(__VA_ARGS__)))
#include <__clang_cuda_builtin_vars.h>
__device__ inline float __fadd_rn(float a, float b) { return __nvvm_add_rn_f(a, b); }
__device__ inline float __fsub_rn(float a, float b) { return __nvvm_add_rn_f(a, -b); }
__device__ inline float __fmul_rn(float a, float b) { return __nvvm_mul_rn_f(a, b); }
__device__ inline double sqrt(double x) { return __nvvm_sqrt_rn_d(x); }
extern "C" __device__ double __nv_exp(double);
extern "C" __device__ double __nv_log(double);
__device__ inline double exp(double x) { return __nv_exp(x); }
__device__ inline double log(double x) { return __nv_log(x); }
