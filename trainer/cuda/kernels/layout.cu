// Layout and elementwise kernels: the input images to channels-last, copies, gradient sums,
// ReLU's mask, filling, the linear layers' bias, the head's ReLU and a target network's EMA
// step.

// nchw_to_nhwc writes n images of c planes of hw pixels (x) channels-last into y (the
// trainer's nchwToNHWC).
extern "C" __global__ void nchw_to_nhwc(const float *x, float *y, int n, int c, int hw) {
	GRID_LOOP(i, (i64)n * hw * c) {
		int ch = (int)(i % c);
		i64 t = i / c;
		i64 img = t / hw, p = t % hw;
		y[i] = x[(img * c + ch) * hw + p];
	}
}

// copy_to copies src to dst (multi-crop's features of each crop size into one block, and back).
extern "C" __global__ void copy_to(float *dst, const float *src, i64 n) {
	GRID_LOOP(i, n) { dst[i] = src[i]; }
}

// add_to adds src to dst (the trainer's add: residual gradients, replica gradient sums).
extern "C" __global__ void add_to(float *dst, const float *src, i64 n) {
	GRID_LOOP(i, n) { dst[i] = dst[i] + src[i]; }
}

// relu_mask zeroes dy where y ≤ 0 (the trainer's reluMask).
extern "C" __global__ void relu_mask(float *dy, const float *y, i64 n) {
	GRID_LOOP(i, n) {
		if (y[i] <= 0.0f) {
			dy[i] = 0.0f;
		}
	}
}

// fill sets n floats to v.
extern "C" __global__ void fill(float *x, float v, i64 n) {
	GRID_LOOP(i, n) { x[i] = v; }
}

// bias_rows writes the bias into every row of y (rows × cols), before the product that adds
// x·w to it.
extern "C" __global__ void bias_rows(float *y, const float *b, int rows, int cols) {
	GRID_LOOP(i, (i64)rows * cols) { y[i] = b[i % cols]; }
}

// sum_rows is the bias gradient: db[j] = Σ_i dy[i][j], summed in row order from 0 as the
// trainer's linear layer does.
extern "C" __global__ void sum_rows(const float *dy, float *db, int rows, int cols) {
	GRID_LOOP(j, cols) {
		float s = 0.0f;
		for (int i = 0; i < rows; i++) {
			s += dy[(i64)i * cols + j];
		}
		db[j] = s;
	}
}

// relu writes max(x, 0) into y as Go's max does (the trainer's reluOp: MoCo v2's head).
extern "C" __global__ void relu(const float *x, float *y, i64 n) {
	GRID_LOOP(i, n) { y[i] = go_max(x[i], 0.0f); }
}

// ema moves a target network's parameters t towards the online ones o: t = a·t + c·o, with
// a = τ and c = 1 − τ rounded to float by the caller (the trainer's target.update).
extern "C" __global__ void ema(float *t, const float *o, float a, float c, i64 n) {
	GRID_LOOP(i, n) { t[i] = a * t[i] + c * o[i]; }
}
