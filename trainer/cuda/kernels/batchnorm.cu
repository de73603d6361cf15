// Batch normalisation with its scale and shift, optionally followed by ReLU, over x of
// shape (N, C, HW) (HW = 1 for a linear layer's (N, C)), as the CPU op computes it:
// training normalises with the batch's statistics (biased variance) and moves the running
// statistics by momentum towards the batch's (unbiased variance); evaluation uses the
// running statistics.

// bn_pre is γ·x̂ + β rounded as the CPU op rounds it (the ReLU mask is decided on it).
__device__ float bn_pre(float g, float h, float b) { return __fadd_rn(__fmul_rn(g, h), b); }

// bn_stats: one block per channel. mean and istd receive the batch mean and 1/√(var + eps)
// for bn_apply; run_mean and run_var move towards the batch statistics.
extern "C" __global__ void __launch_bounds__(REDUCE_THREADS) bn_stats(const float *x, float *run_mean,
		float *run_var, float *mean, float *istd, int n, int c, int hw, double momentum, double eps) {
	int ch = blockIdx.x;
	i64 m = (i64)n * hw;
	double s = 0.0, unused = 0.0;
	for (i64 j = threadIdx.x; j < m; j += REDUCE_THREADS) {
		s += x[((j / hw) * c + ch) * hw + j % hw];
	}
	block_sum2(&s, &unused);
	double mu = s / (double)m;
	float fmu = (float)mu;
	double ss = 0.0;
	for (i64 j = threadIdx.x; j < m; j += REDUCE_THREADS) {
		float d = __fsub_rn(x[((j / hw) * c + ch) * hw + j % hw], fmu);
		ss += (double)__fmul_rn(d, d);
	}
	block_sum2(&ss, &unused);
	if (threadIdx.x == 0) {
		double vb = ss / (double)m;
		double unbiased = m > 1 ? ss / (double)(m - 1) : vb;
		run_mean[ch] = (float)((1.0 - momentum) * (double)run_mean[ch] + momentum * mu);
		run_var[ch] = (float)((1.0 - momentum) * (double)run_var[ch] + momentum * unbiased);
		mean[ch] = fmu;
		istd[ch] = (float)(1.0 / sqrt(vb + eps));
	}
}

// bn_eval_stats turns the running statistics into the mean and 1/√(var + eps) bn_apply uses.
extern "C" __global__ void bn_eval_stats(const float *run_mean, const float *run_var, float *mean,
		float *istd, int c, double eps) {
	GRID_LOOP(ch, c) {
		mean[ch] = run_mean[ch];
		istd[ch] = (float)(1.0 / sqrt((double)run_var[ch] + eps));
	}
}

// bn_apply normalises: x̂ = (x − mean)·istd (kept for the backward pass) and
// y = γ·x̂ + β, through ReLU when relu is set.
extern "C" __global__ void bn_apply(const float *x, float *xhat, float *y, const float *mean,
		const float *istd, const float *gamma, const float *beta, int n, int c, int hw, int relu) {
	GRID_LOOP(i, (i64)n * c * hw) {
		int ch = (int)((i / hw) % c);
		float h = __fmul_rn(__fsub_rn(x[i], mean[ch]), istd[ch]);
		xhat[i] = h;
		float v = bn_pre(gamma[ch], h, beta[ch]);
		y[i] = relu ? relu_max(v) : v;
	}
}

// bn_bwd_reduce: one block per channel. The gradients of γ and β: Σ dy·x̂ and Σ dy, with dy
// taken through the ReLU (zero where γ·x̂ + β ≤ 0).
extern "C" __global__ void __launch_bounds__(REDUCE_THREADS) bn_bwd_reduce(const float *xhat,
		const float *dy, const float *gamma, const float *beta, float *dgamma, float *dbeta, int n,
		int c, int hw, int relu) {
	int ch = blockIdx.x;
	float g = gamma[ch], b = beta[ch];
	i64 m = (i64)n * hw;
	double s1 = 0.0, s2 = 0.0;
	for (i64 j = threadIdx.x; j < m; j += REDUCE_THREADS) {
		i64 at = ((j / hw) * c + ch) * hw + j % hw;
		float h = xhat[at], v = dy[at];
		if (relu && bn_pre(g, h, b) <= 0.0f) {
			v = 0.0f;
		}
		s1 += (double)v;
		s2 += (double)__fmul_rn(v, h);
	}
	block_sum2(&s1, &s2);
	if (threadIdx.x == 0) {
		dgamma[ch] = (float)s2;
		dbeta[ch] = (float)s1;
	}
}

// bn_bwd_apply is the input gradient, from bn_bwd_reduce's sums:
// dx = γ·istd·(dy − mean(dy) − x̂·mean(dy·x̂)) with batch statistics (train), or γ·istd·dy
// with fixed ones.
extern "C" __global__ void bn_bwd_apply(const float *xhat, const float *dy, const float *gamma,
		const float *beta, const float *istd, const float *dgamma, const float *dbeta, float *dx,
		int n, int c, int hw, int relu, int train) {
	float m = (float)((i64)n * hw);
	GRID_LOOP(i, (i64)n * c * hw) {
		int ch = (int)((i / hw) % c);
		float g = gamma[ch], h = xhat[i], v = dy[i];
		if (relu && bn_pre(g, h, beta[ch]) <= 0.0f) {
			v = 0.0f;
		}
		float mdy = 0.0f, mdyx = 0.0f;
		if (train) {
			mdy = dbeta[ch] / m;
			mdyx = dgamma[ch] / m;
		}
		float k = __fmul_rn(g, istd[ch]);
		dx[i] = __fmul_rn(k, __fsub_rn(__fsub_rn(v, mdy), __fmul_rn(h, mdyx)));
	}
}
