// Pooling over channels-last activations: the 3×3 stride-2 max pool of the ImageNet stems
// and the global average pool at the end of every backbone, as the trainer's CPU kernels.

// maxpool: y holds the maximum of each k×k window at stride s over x padded by p (padding
// never wins), taken with Go's max in scan order from −∞ (maxPool).
extern "C" __global__ void maxpool(const float *x, float *y, int h, int w, int c, int k, int s,
		int p, int oh, int ow, i64 n) {
	GRID_LOOP(i, n * oh * ow * c) {
		int ch = (int)(i % c);
		i64 r = i / c;
		i64 img = r / ((i64)oh * ow);
		int rr = (int)(r % ((i64)oh * ow));
		int oy = rr / ow, ox = rr % ow;
		float m = NEG_INF;
		for (int ki = 0; ki < k; ki++) {
			int iy = oy * s - p + ki;
			for (int kj = 0; kj < k; kj++) {
				int ix = ox * s - p + kj;
				if (iy >= 0 && iy < h && ix >= 0 && ix < w) {
					m = go_max(m, x[((img * h + iy) * w + ix) * c + ch]);
				}
			}
		}
		y[i] = m;
	}
}

// maxpool_arg finds, for each output value, the first input pixel of its window (in scan
// order) that holds the window's maximum: its index iy·w + ix within the image, or −1.
extern "C" __global__ void maxpool_arg(const float *x, const float *y, int *arg, int h, int w, int c,
		int k, int s, int p, int oh, int ow, i64 n) {
	GRID_LOOP(i, n * oh * ow * c) {
		int ch = (int)(i % c);
		i64 r = i / c;
		i64 img = r / ((i64)oh * ow);
		int rr = (int)(r % ((i64)oh * ow));
		int oy = rr / ow, ox = rr % ow;
		int at = -1;
		for (int ki = 0; ki < k && at < 0; ki++) {
			int iy = oy * s - p + ki;
			for (int kj = 0; kj < k && at < 0; kj++) {
				int ix = ox * s - p + kj;
				if (iy >= 0 && iy < h && ix >= 0 && ix < w && x[((img * h + iy) * w + ix) * c + ch] == y[i]) {
					at = iy * w + ix;
				}
			}
		}
		arg[i] = at;
	}
}

// maxpool_back adds each output gradient to the input maxpool_arg chose (maxPoolBack):
// every input value gathers the windows that chose it, in output order, as the CPU kernel
// adds them.
extern "C" __global__ void maxpool_back(const float *dy, const int *arg, float *dx, int h, int w,
		int c, int k, int s, int p, int oh, int ow, i64 n) {
	GRID_LOOP(i, n * h * w * c) {
		int ch = (int)(i % c);
		i64 t = i / c;
		int pix = (int)(t % ((i64)h * w));
		i64 img = t / ((i64)h * w);
		int iy = pix / w, ix = pix % w;
		int oy0 = ceil_div(iy + p - k + 1, s), oy1 = (iy + p) / s;
		int ox0 = ceil_div(ix + p - k + 1, s), ox1 = (ix + p) / s;
		oy0 = oy0 > 0 ? oy0 : 0;
		ox0 = ox0 > 0 ? ox0 : 0;
		oy1 = oy1 < oh - 1 ? oy1 : oh - 1;
		ox1 = ox1 < ow - 1 ? ox1 : ow - 1;
		float acc = dx[i];
		for (int oy = oy0; oy <= oy1; oy++) {
			for (int ox = ox0; ox <= ox1; ox++) {
				i64 o = ((img * oh + oy) * ow + ox) * c + ch;
				if (arg[o] == pix) {
					acc += dy[o];
				}
			}
		}
		dx[i] = acc;
	}
}

// avgpool averages each image's hw rows of x (n·hw × c) into out (n × c), summing in row
// order and then multiplying by 1/hw (avgPool).
extern "C" __global__ void avgpool(const float *x, float *out, int n, int hw, int c) {
	GRID_LOOP(i, (i64)n * c) {
		i64 img = i / c;
		int ch = (int)(i % c);
		float acc = 0.0f;
		for (int q = 0; q < hw; q++) {
			acc += x[(img * hw + q) * c + ch];
		}
		out[i] = acc * (1.0f / (float)hw);
	}
}

// avgpool_back spreads dout (n × c) evenly over each image's hw rows of dx (avgPoolBack).
extern "C" __global__ void avgpool_back(const float *dout, float *dx, int n, int hw, int c) {
	GRID_LOOP(i, (i64)n * hw * c) {
		int ch = (int)(i % c);
		i64 img = i / ((i64)hw * c);
		dx[i] = dout[img * c + ch] * (1.0f / (float)hw);
	}
}
