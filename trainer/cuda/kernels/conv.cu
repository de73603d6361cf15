// A convolution over channels-last activations as matrix products, as the trainer's im2col
// path does it: the column matrix has a row per output pixel (n, oy, ox) holding the k×k
// input pixels under it, (ki, kj, c) in order, and the weights are laid out as the
// (ki, kj, c) × o matrix, so that y = col · wk is the output channels-last. The products run
// on cuBLAS; these kernels move the data around them. A pass works on a block of rows
// [r0, r0 + rows) at a time, so that the column matrix stays bounded.

// weights_kco lays w[o][c][q] (q = ki·k + kj, PyTorch's layout) out as wk[q][c][o]
// (the trainer's weightsKCO).
extern "C" __global__ void weights_kco(const float *w, float *wk, int o, int c, int kk) {
	GRID_LOOP(i, (i64)o * c * kk) {
		int oi = (int)(i % o);
		i64 t = i / o;
		int ci = (int)(t % c), q = (int)(t / c);
		wk[i] = w[((i64)oi * c + ci) * kk + q];
	}
}

// weights_kco_back is its inverse, for the weight gradient (weightsKCOBack).
extern "C" __global__ void weights_kco_back(const float *dwk, float *dw, int o, int c, int kk) {
	GRID_LOOP(i, (i64)o * c * kk) {
		int q = (int)(i % kk);
		i64 t = i / kk;
		int ci = (int)(t % c), oi = (int)(t / c);
		dw[i] = dwk[((i64)q * c + ci) * o + oi];
	}
}

// im2col writes rows r0 … r0+rows−1 of the column matrix of x (n images of h×w, c
// channels) for a k×k window at stride s with p pixels of zero padding (im2colGo).
extern "C" __global__ void im2col(const float *x, float *col, int h, int w, int c, int k, int s,
		int p, int oh, int ow, i64 r0, i64 rows) {
	int kc = k * k * c;
	GRID_LOOP(i, rows * kc) {
		i64 r = r0 + i / kc;
		int j = (int)(i % kc);
		int q = j / c, ch = j % c;
		int ki = q / k, kj = q % k;
		i64 img = r / ((i64)oh * ow);
		int rr = (int)(r % ((i64)oh * ow));
		int iy = rr / ow * s - p + ki, ix = rr % ow * s - p + kj;
		float v = 0.0f;
		if (iy >= 0 && iy < h && ix >= 0 && ix < w) {
			v = x[((img * h + iy) * w + ix) * c + ch];
		}
		col[i] = v;
	}
}

// col2im adds rows r0 … r0+rows−1 of a column-matrix gradient into dx (col2imGo). Each
// input value gathers the entries that read it in the order the CPU kernel adds them:
// output pixel by output pixel, in row order. Only the images those rows cover are visited.
extern "C" __global__ void col2im(const float *dcol, float *dx, int h, int w, int c, int k, int s,
		int p, int oh, int ow, i64 r0, i64 rows) {
	i64 plane = (i64)oh * ow;
	i64 img0 = r0 / plane, img1 = (r0 + rows - 1) / plane;
	int kc = k * k * c;
	GRID_LOOP(i, (img1 - img0 + 1) * h * w * c) {
		int ch = (int)(i % c);
		i64 t = i / c;
		int ix = (int)(t % w);
		t /= w;
		int iy = (int)(t % h);
		i64 img = img0 + t / h;
		// Output pixels whose window holds (iy, ix): oy·s − p ≤ iy ≤ oy·s − p + k − 1.
		int oy0 = ceil_div(iy + p - k + 1, s), oy1 = (iy + p) / s;
		int ox0 = ceil_div(ix + p - k + 1, s), ox1 = (ix + p) / s;
		oy0 = oy0 > 0 ? oy0 : 0;
		ox0 = ox0 > 0 ? ox0 : 0;
		oy1 = oy1 < oh - 1 ? oy1 : oh - 1;
		ox1 = ox1 < ow - 1 ? ox1 : ow - 1;
		i64 at = ((img * h + iy) * w + ix) * c + ch;
		float acc = dx[at];
		for (int oy = oy0; oy <= oy1; oy++) {
			for (int ox = ox0; ox <= ox1; ox++) {
				i64 r = img * plane + (i64)oy * ow + ox;
				if (r < r0 || r >= r0 + rows) {
					continue;
				}
				int q = (iy - oy * s + p) * k + (ix - ox * s + p);
				acc += dcol[(r - r0) * kc + (i64)q * c + ch];
			}
		}
		dx[at] = acc;
	}
}

// subsample writes rows r0 … r0+rows−1 of a 1×1 stride-s convolution's input: the pixels
// (oy·s, ox·s) of x (the trainer's subsample).
extern "C" __global__ void subsample(const float *x, float *col, int h, int w, int c, int s,
		int oh, int ow, i64 r0, i64 rows) {
	GRID_LOOP(i, rows * c) {
		i64 r = r0 + i / c;
		int ch = (int)(i % c);
		i64 img = r / ((i64)oh * ow);
		int rr = (int)(r % ((i64)oh * ow));
		col[i] = x[((img * h + (i64)(rr / ow) * s) * w + (i64)(rr % ow) * s) * c + ch];
	}
}

// subsample_back adds such rows back into dx (subsampleBack): each input value is read by
// at most one output pixel, so the threads never add to the same value.
extern "C" __global__ void subsample_back(const float *dcol, float *dx, int h, int w, int c, int s,
		int oh, int ow, i64 r0, i64 rows) {
	GRID_LOOP(i, rows * c) {
		i64 r = r0 + i / c;
		int ch = (int)(i % c);
		i64 img = r / ((i64)oh * ow);
		int rr = (int)(r % ((i64)oh * ow));
		i64 at = ((img * h + (i64)(rr / ow) * s) * w + (i64)(rr % ow) * s) * c + ch;
		dx[at] = dx[at] + dcol[i];
	}
}
