// Helpers shared by natssl's kernels.
//
// Every kernel is extern "C", so that its name is the symbol the Go side launches, and
// indexes tensors with 64-bit integers where they may pass 2^31 elements. Elementwise
// kernels are grid-stride loops that any launch shape covers. Reductions run over a block of
// exactly REDUCE_THREADS threads (declared with __launch_bounds__, which also marks them as
// cooperative for the host simulation), accumulate in double and combine in a fixed tree:
// the same input gives the same bits, run after run. No kernel uses atomics.
//
// Where the CPU op computes in float32 step by step, the kernels use the _rn intrinsics,
// which round each operation and forbid the compiler to fuse a multiply and an add: the
// result, and the ReLU masks decided from it, are the CPU op's own.

#define REDUCE_THREADS 256

typedef long long i64;

// GRID_LOOP visits i = 0 … n-1, each once, over the whole grid.
#define GRID_LOOP(i, n) \
	for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)blockDim.x * gridDim.x)

// FLOAT_MAX is FLT_MAX (NVRTC has no <cfloat>).
#define FLOAT_MAX 3.402823466e+38f

// block_sum2 sums a and b over the block and gives the totals to every thread.
__device__ void block_sum2(double *a, double *b) {
	__shared__ double sa[REDUCE_THREADS];
	__shared__ double sb[REDUCE_THREADS];
	unsigned t = threadIdx.x;
	sa[t] = *a;
	sb[t] = *b;
	__syncthreads();
	for (unsigned s = REDUCE_THREADS / 2; s > 0; s >>= 1) {
		if (t < s) {
			sa[t] += sa[t + s];
			sb[t] += sb[t + s];
		}
		__syncthreads();
	}
	*a = sa[0];
	*b = sb[0];
	__syncthreads(); // the arrays may be reused at once
}

// block_max is the maximum of v over the block, given to every thread.
__device__ float block_max(float v) {
	__shared__ float sm[REDUCE_THREADS];
	unsigned t = threadIdx.x;
	sm[t] = v;
	__syncthreads();
	for (unsigned s = REDUCE_THREADS / 2; s > 0; s >>= 1) {
		if (t < s && sm[t + s] > sm[t]) {
			sm[t] = sm[t + s];
		}
		__syncthreads();
	}
	float r = sm[0];
	__syncthreads();
	return r;
}

// relu_max is Go's max(v, 0) for float32: v when v > 0 or v is NaN, else 0.
__device__ float relu_max(float v) { return (v > 0.0f || v != v) ? v : 0.0f; }

// relu_mask is Gorgonia's Rectify factor [v ≥ 0] (the forward is v times it).
__device__ float relu_mask(float v) { return v >= 0.0f ? 1.0f : 0.0f; }
