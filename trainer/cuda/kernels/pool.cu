// Pooling: the global average pool at the end of every backbone, and the 3×3 max pool
// after the ImageNet stems (Gorgonia's MaxPool2D semantics).

// avgpool_fwd averages each of nc planes of hw values (summed in order, as the CPU op).
extern "C" __global__ void avgpool_fwd(const float *x, float *y, int nc, int hw) {
	GRID_LOOP(i, nc) {
		float s = 0.0f;
		for (int j = 0; j < hw; j++) {
			s += x[i * hw + j];
		}
		y[i] = s / (float)hw;
	}
}

// avgpool_bwd spreads each plane's gradient evenly over it.
extern "C" __global__ void avgpool_bwd(const float *dy, float *dx, int nc, int hw) {
	GRID_LOOP(i, (i64)nc * hw) { dx[i] = dy[i / hw] / (float)hw; }
}

// maxpool_fwd takes the maximum of each k×k window (stride s, padding p that never wins):
// the first maximum in row-major order, from −FLT_MAX, and records its index within the
// plane in mask (−1 when no value exceeds −FLT_MAX).
extern "C" __global__ void maxpool_fwd(const float *x, float *y, int *mask, int n, int c, int h,
		int w, int k, int s, int p, int oh, int ow) {
	GRID_LOOP(i, (i64)n * c * oh * ow) {
		int ox = (int)(i % ow);
		i64 t = i / ow;
		int oy = (int)(t % oh);
		i64 plane = t / oh;
		int hs = oy * s - p, ws = ox * s - p;
		int he = hs + k < h ? hs + k : h, we = ws + k < w ? ws + k : w;
		hs = hs > 0 ? hs : 0;
		ws = ws > 0 ? ws : 0;
		const float *xp = x + plane * h * w;
		float best = -FLOAT_MAX;
		int at = -1;
		for (int hi = hs; hi < he; hi++) {
			for (int wi = ws; wi < we; wi++) {
				float v = xp[hi * w + wi];
				if (v > best) {
					best = v;
					at = hi * w + wi;
				}
			}
		}
		y[i] = best;
		mask[i] = at;
	}
}

// maxpool_bwd routes each window's gradient to the input its mask names: each input gathers
// over the windows that contain it, in window order (the CPU op's order of accumulation).
extern "C" __global__ void maxpool_bwd(const float *dy, const int *mask, float *dx, int n, int c,
		int h, int w, int k, int s, int p, int oh, int ow) {
	GRID_LOOP(i, (i64)n * c * h * w) {
		int ix = (int)(i % w);
		i64 t = i / w;
		int iy = (int)(t % h);
		i64 plane = t / h;
		int at = iy * w + ix;
		// Windows ph with ph·s − p ≤ iy < ph·s − p + k, and likewise for pw.
		int ly = iy + p - k, lx = ix + p - k;
		int ph0 = ly < 0 ? 0 : ly / s + 1, pw0 = lx < 0 ? 0 : lx / s + 1;
		int ph1 = (iy + p) / s, pw1 = (ix + p) / s;
		ph1 = ph1 < oh - 1 ? ph1 : oh - 1;
		pw1 = pw1 < ow - 1 ? pw1 : ow - 1;
		float acc = 0.0f;
		for (int ph = ph0; ph <= ph1; ph++) {
			for (int pw = pw0; pw <= pw1; pw++) {
				i64 o = plane * oh * ow + (i64)ph * ow + pw;
				if (mask[o] == at) {
					acc += dy[o];
				}
			}
		}
		dx[i] = acc;
	}
}
