// The optimizers' updates, one parameter tensor per launch, with the trainer's optimizer
// maths (optim.go): SGD and LARS in float32 operation by operation, AdamW in double.

// sgd is PyTorch's SGD with momentum, decay added to the gradient.
extern "C" __global__ void sgd(float *w, const float *g, float *buf, i64 n, float lr, float wd,
		float mu) {
	GRID_LOOP(j, n) {
		float gj = g[j] + wd * w[j];
		float b = mu * buf[j] + gj;
		buf[j] = b;
		w[j] = w[j] - lr * b;
	}
}

// adamw is PyTorch's AdamW: decoupled decay, then the bias-corrected Adam step, with
// step_size = lr/(1 − β1ᵗ), sq2 = √(1 − β2ᵗ) and decay = 1 − lr·wd computed by the caller.
extern "C" __global__ void adamw(float *w, const float *g, float *m, float *v, i64 n, double b1,
		double b2, double eps, double step_size, double sq2, float decay) {
	GRID_LOOP(j, n) {
		double gj = g[j];
		double mj = b1 * (double)m[j] + (1.0 - b1) * gj;
		double vj = b2 * (double)v[j] + (1.0 - b2) * gj * gj;
		m[j] = (float)mj;
		v[j] = (float)vj;
		w[j] = w[j] * decay - (float)(step_size * mj / (sqrt(vj) / sq2 + eps));
	}
}

// lars_partial: partial sums of |w|² and |g + wd·w|² (in double), one pair per block, for
// lars_scale. The grid is fixed by the tensor's size, so the sums are too.
extern "C" __global__ void __launch_bounds__(REDUCE_THREADS) lars_partial(const float *w,
		const float *g, i64 n, double wd, double *partial) {
	double wn = 0.0, gn = 0.0;
	GRID_LOOP(j, n) {
		double wj = w[j];
		double gj = (double)g[j] + wd * wj;
		wn += wj * wj;
		gn += gj * gj;
	}
	block_sum2(&wn, &gn);
	if (threadIdx.x == 0) {
		partial[2 * blockIdx.x] = wn;
		partial[2 * blockIdx.x + 1] = gn;
	}
}

// lars_scale: one thread. scale[0] = lr·η·|w|/|g| from the partial sums, or lr when either
// norm is zero.
extern "C" __global__ void lars_scale(const double *partial, int blocks, float *scale, double lr,
		double eta) {
	if (blockIdx.x != 0 || threadIdx.x != 0) {
		return;
	}
	double wn = 0.0, gn = 0.0;
	for (int b = 0; b < blocks; b++) {
		wn += partial[2 * b];
		gn += partial[2 * b + 1];
	}
	wn = sqrt(wn);
	gn = sqrt(gn);
	scale[0] = (float)(wn > 0.0 && gn > 0.0 ? lr * eta * wn / gn : lr);
}

// lars_update is SimCLR's LARS step with the scale lars_scale (or the caller) left in
// scale[0]: buf = μ·buf + scale·(g + wd·w); w −= buf.
extern "C" __global__ void lars_update(float *w, const float *g, float *buf, i64 n,
		const float *scale, float wd, float mu) {
	float sc = scale[0];
	GRID_LOOP(j, n) {
		float gj = g[j] + wd * w[j];
		float b = mu * buf[j] + sc * gj;
		buf[j] = b;
		w[j] = w[j] - b;
	}
}
