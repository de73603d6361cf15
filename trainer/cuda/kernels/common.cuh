// Helpers shared by natssl's kernels.
//
// Every kernel is extern "C", so that its name is the symbol the Go side launches, and
// indexes tensors with 64-bit integers where they may pass 2^31 elements. Elementwise
// kernels are grid-stride loops that any launch shape covers. Block reductions run over a
// block of exactly REDUCE_THREADS threads (declared with __launch_bounds__, which also marks
// them as cooperative for the host simulation), accumulate in double and combine in a fixed
// tree: the same input gives the same bits, run after run. No kernel uses atomics.
//
// NVRTC compiles the kernels with --fmad=false and the host simulation with
// -ffp-contract=off: every float and double operation rounds as written, as Go's arithmetic
// does on amd64. Where the trainer's CPU kernel (its Go reference) computes in a fixed
// order, the kernel here computes the same operations in the same order, so that the two
// agree bit for bit; the statistics of batch norm are an example (float sums within an
// image's plane, double sums across planes, in plane order).
//
// Activations are channels-last, as the trainer's: N·H·W rows of C channels.

#define REDUCE_THREADS 256

typedef long long i64;

// GRID_LOOP visits i = 0 … n-1, each once, over the whole grid.
#define GRID_LOOP(i, n) \
	for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)blockDim.x * gridDim.x)

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

// go_max is Go's max for two float32s: NaN when either is, +0 for −0 and +0.
__device__ float go_max(float a, float b) {
	if (a != a) {
		return a;
	}
	if (b != b) {
		return b;
	}
	if (a > b) {
		return a;
	}
	if (b > a) {
		return b;
	}
	return a == 0.0f ? a + b : a; // equal: −0 + +0 is +0
}

// NEG_INF is −∞ (NVRTC has no <cmath>).
#define NEG_INF (-__int_as_float(0x7f800000))

// ceil_div is ⌈a / b⌉ for b > 0 and a of either sign.
__device__ int ceil_div(int a, int b) { return a <= 0 ? -(-a / b) : (a + b - 1) / b; }
