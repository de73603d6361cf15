// The convolution's column matrix, laid out as the CPU op lays it: row (c, ki, kj), column
// (n, oy, ox), so that one product W (O × C·k·k) · col gives the output channel by channel.

// im2col: col[(c·k + ki)·k + kj][(n·oh + oy)·ow + ox] = x[n][c][oy·s − p + ki][ox·s − p + kj],
// or 0 outside the image.
extern "C" __global__ void im2col(const float *x, float *col, int n, int c, int h, int w, int k,
		int s, int p, int oh, int ow) {
	i64 hw = (i64)oh * ow, cols = (i64)n * hw;
	GRID_LOOP(i, (i64)c * k * k * cols) {
		i64 row = i / cols, j = i % cols;
		int ch = (int)(row / (k * k)), kk = (int)(row % (k * k));
		int ki = kk / k, kj = kk % k;
		i64 img = j / hw, r = j % hw;
		int oy = (int)(r / ow), ox = (int)(r % ow);
		int iy = oy * s - p + ki, ix = ox * s - p + kj;
		float v = 0.0f;
		if (iy >= 0 && iy < h && ix >= 0 && ix < w) {
			v = x[(img * c + ch) * h * w + (i64)iy * w + ix];
		}
		col[i] = v;
	}
}

// col2im is its adjoint: each input pixel gathers the column entries that read it, in
// (ki, kj) order, which is the order the CPU op accumulates them in.
extern "C" __global__ void col2im(const float *dcol, float *dx, int n, int c, int h, int w, int k,
		int s, int p, int oh, int ow) {
	i64 hw = (i64)oh * ow, cols = (i64)n * hw;
	GRID_LOOP(i, (i64)n * c * h * w) {
		int ix = (int)(i % w);
		i64 t = i / w;
		int iy = (int)(t % h);
		t /= h;
		int ch = (int)(t % c);
		i64 img = t / c;
		float acc = 0.0f;
		for (int ki = 0; ki < k; ki++) {
			int ny = iy + p - ki;
			if (ny < 0 || ny % s != 0 || ny / s >= oh) {
				continue;
			}
			int oy = ny / s;
			for (int kj = 0; kj < k; kj++) {
				int nx = ix + p - kj;
				if (nx < 0 || nx % s != 0 || nx / s >= ow) {
					continue;
				}
				int ox = nx / s;
				acc += dcol[((i64)(ch * k + ki) * k + kj) * cols + img * hw + (i64)oy * ow + ox];
			}
		}
		dx[i] = acc;
	}
}
