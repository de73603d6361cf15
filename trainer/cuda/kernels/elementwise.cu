// Elementwise kernels: activations, residual sums, bias, scaling and filling, and the
// layout changes around a convolution's matrix product.

// relu_fwd is Gorgonia's Rectify: y = x·[x ≥ 0].
extern "C" __global__ void relu_fwd(const float *x, float *y, i64 n) {
	GRID_LOOP(i, n) {
		float v = x[i];
		y[i] = v * relu_mask(v);
	}
}

// relu_bwd is its gradient from the input x: dx = dy·[x ≥ 0].
extern "C" __global__ void relu_bwd(const float *x, const float *dy, float *dx, i64 n) {
	GRID_LOOP(i, n) { dx[i] = dy[i] * relu_mask(x[i]); }
}

// add is the residual sum y = a + b.
extern "C" __global__ void add(const float *a, const float *b, float *y, i64 n) {
	GRID_LOOP(i, n) { y[i] = a[i] + b[i]; }
}

// add_relu is the residual sum and the ReLU after it: s = a + b (kept for the backward
// pass) and y = s·[s ≥ 0].
extern "C" __global__ void add_relu(const float *a, const float *b, float *s, float *y, i64 n) {
	GRID_LOOP(i, n) {
		float v = a[i] + b[i];
		s[i] = v;
		y[i] = v * relu_mask(v);
	}
}

// scale multiplies x by alpha in place (a gradient's upstream factor).
extern "C" __global__ void scale(float *x, float alpha, i64 n) {
	GRID_LOOP(i, n) { x[i] = __fmul_rn(x[i], alpha); }
}

// axpy adds alpha·x to y (summing replicas' gradients: alpha 1 adds exactly).
extern "C" __global__ void axpy(float *y, const float *x, float alpha, i64 n) {
	GRID_LOOP(i, n) { y[i] = __fadd_rn(y[i], __fmul_rn(alpha, x[i])); }
}

// fill sets n floats to v.
extern "C" __global__ void fill(float *x, float v, i64 n) {
	GRID_LOOP(i, n) { x[i] = v; }
}

// bias_rows writes the bias into every row of y (rows × cols), before the product that
// adds x·w to it.
extern "C" __global__ void bias_rows(float *y, const float *b, int rows, int cols) {
	GRID_LOOP(i, (i64)rows * cols) { y[i] = b[i % cols]; }
}

// sum_rows is the bias gradient: db[j] = Σ_i dy[i][j], summed in row order as the CPU op.
extern "C" __global__ void sum_rows(const float *dy, float *db, int rows, int cols) {
	GRID_LOOP(j, cols) {
		float s = 0.0f;
		for (int i = 0; i < rows; i++) {
			s += dy[(i64)i * cols + j];
		}
		db[j] = s;
	}
}

// cn_to_nchw reorders a convolution's product, channel-major (C × N·HW), to NCHW.
extern "C" __global__ void cn_to_nchw(const float *src, float *dst, int n, int c, int hw) {
	GRID_LOOP(i, (i64)n * c * hw) {
		i64 j = i % hw, t = i / hw;
		i64 ch = t % c, img = t / c;
		dst[i] = src[ch * ((i64)n * hw) + img * hw + j];
	}
}

// nchw_to_cn is the inverse: an NCHW gradient laid out as the product made it.
extern "C" __global__ void nchw_to_cn(const float *src, float *dst, int n, int c, int hw) {
	GRID_LOOP(i, (i64)n * c * hw) {
		i64 j = i % hw, t = i / hw;
		i64 ch = t % c, img = t / c;
		dst[ch * ((i64)n * hw) + img * hw + j] = src[i];
	}
}
