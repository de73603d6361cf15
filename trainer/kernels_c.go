//go:build cgo

package trainer

/*
#cgo CFLAGS: -O3
#include "kernels.h"

// The hot kernels of kernels.go and im2col.go in C; a test holds each to its Go twin.

MV void chan_sums(const float *x, int rows, int c, int chunk, const float *shift, int sq, double *sum) {
	float acc[c];
	for (int r0 = 0; r0 < rows; r0 += chunk) {
		int r1 = r0 + chunk < rows ? r0 + chunk : rows;
		memset(acc, 0, sizeof acc);
		for (int r = r0; r < r1; r++) {
			const float *row = x + (int64_t)r * c;
			if (shift && sq) {
				for (int ch = 0; ch < c; ch++) {
					float v = row[ch] - shift[ch];
					acc[ch] += v * v;
				}
			} else if (sq) {
				for (int ch = 0; ch < c; ch++) {
					acc[ch] += row[ch] * row[ch];
				}
			} else if (shift) {
				for (int ch = 0; ch < c; ch++) {
					acc[ch] += row[ch] - shift[ch];
				}
			} else {
				for (int ch = 0; ch < c; ch++) {
					acc[ch] += row[ch];
				}
			}
		}
		for (int ch = 0; ch < c; ch++) {
			sum[ch] += acc[ch];
		}
	}
}

MV void bn_apply(const float *x, float *y, const float *res, int rows, int c, const float *scale, const float *shift, int relu) {
	for (int64_t r = 0; r < rows; r++) {
		const float *xr = x + r * c;
		float *yr = y + r * c;
		if (res) {
			const float *rr = res + r * c;
			for (int ch = 0; ch < c; ch++) {
				float v = xr[ch] * scale[ch] + shift[ch] + rr[ch];
				yr[ch] = relu && v < 0 ? 0 : v;
			}
		} else {
			for (int ch = 0; ch < c; ch++) {
				float v = xr[ch] * scale[ch] + shift[ch];
				yr[ch] = relu && v < 0 ? 0 : v;
			}
		}
	}
}

MV void bn_back_sums(const float *x, const float *dy, int rows, int c, int chunk, const float *mean,
		const float *istd, const float *scale, const float *shift, int relu, double *s1, double *s2) {
	float a1[c], a2[c];
	for (int r0 = 0; r0 < rows; r0 += chunk) {
		int r1 = r0 + chunk < rows ? r0 + chunk : rows;
		memset(a1, 0, sizeof a1);
		memset(a2, 0, sizeof a2);
		for (int64_t r = r0; r < r1; r++) {
			const float *xr = x + r * c, *dr = dy + r * c;
			for (int ch = 0; ch < c; ch++) {
				float xv = xr[ch];
				float h = (xv - mean[ch]) * istd[ch];
				float v = dr[ch];
				if (relu && xv * scale[ch] + shift[ch] <= 0) {
					v = 0;
				}
				a1[ch] += v;
				a2[ch] += v * h;
			}
		}
		for (int ch = 0; ch < c; ch++) {
			s1[ch] += a1[ch];
			s2[ch] += a2[ch];
		}
	}
}

MV void bn_back_apply(const float *x, const float *dy, float *dx, int rows, int c, const float *mean,
		const float *istd, const float *scale, const float *shift, const float *kk, const float *mdy,
		const float *mdyx, int relu) {
	for (int64_t r = 0; r < rows; r++) {
		const float *xr = x + r * c, *dr = dy + r * c;
		float *o = dx + r * c;
		for (int ch = 0; ch < c; ch++) {
			float xv = xr[ch];
			float h = (xv - mean[ch]) * istd[ch];
			float v = dr[ch];
			if (relu && xv * scale[ch] + shift[ch] <= 0) {
				v = 0;
			}
			o[ch] = kk[ch] * (v - mdy[ch] - h * mdyx[ch]);
		}
	}
}

MV void relu_mask(float *dy, const float *y, int64_t n) {
	for (int64_t i = 0; i < n; i++) {
		dy[i] = y[i] > 0 ? dy[i] : 0;
	}
}

MV void add_to(float *dst, const float *src, int64_t n) {
	for (int64_t i = 0; i < n; i++) {
		dst[i] += src[i];
	}
}

// weights_kco lays w[o][c][kk] out as wk[kk][c][o] (kk = k·k taps), CB output channels at
// a time so that both sides stream; back does the inverse.
MV void weights_kco(const float *w, float *wk, int o, int c, int kk, int back) {
	for (int o0 = 0; o0 < o; o0 += CB) {
		int ob = o - o0 < CB ? o - o0 : CB;
		for (int ci = 0; ci < c; ci++) {
			for (int q = 0; q < kk; q++) {
				float *d = wk + ((int64_t)q * c + ci) * o + o0;
				const float *s = w + ((int64_t)o0 * c + ci) * kk + q;
				int64_t stride = (int64_t)c * kk;
				if (back) {
					float *dd = (float *)s;
					for (int l = 0; l < ob; l++) {
						dd[l * stride] = d[l];
					}
				} else {
					for (int l = 0; l < ob; l++) {
						d[l] = s[l * stride];
					}
				}
			}
		}
	}
}

// im2col and col2im move a row's k taps of one kernel row at once where they all fall
// inside the image: k·c floats that lie together in x and in the column matrix.
MV void im2col(const float *x, float *col, int h, int w, int c, int k, int s, int p, int oh, int ow, int r0, int rows) {
	int kc = k * k * c;
	for (int r = 0; r < rows; r++) {
		int q = r0 + r, img = q / (oh * ow), rr = q % (oh * ow), oy = rr / ow, ox = rr % ow;
		float *dst = col + (int64_t)r * kc;
		int ix0 = ox * s - p;
		for (int ki = 0; ki < k; ki++) {
			int iy = oy * s - p + ki;
			float *d = dst + ki * k * c;
			if (iy < 0 || iy >= h) {
				memset(d, 0, k * c * sizeof(float));
				continue;
			}
			const float *row = x + (int64_t)(img * h + iy) * w * c;
			if (ix0 >= 0 && ix0 + k <= w) {
				memcpy(d, row + (int64_t)ix0 * c, k * c * sizeof(float));
				continue;
			}
			for (int kj = 0; kj < k; kj++) {
				int ix = ix0 + kj;
				if (ix < 0 || ix >= w) {
					memset(d + kj * c, 0, c * sizeof(float));
				} else {
					memcpy(d + kj * c, row + (int64_t)ix * c, c * sizeof(float));
				}
			}
		}
	}
}

MV void col2im(const float *dcol, float *dx, int h, int w, int c, int k, int s, int p, int oh, int ow, int r0, int rows) {
	int kc = k * k * c;
	for (int r = 0; r < rows; r++) {
		int q = r0 + r, img = q / (oh * ow), rr = q % (oh * ow), oy = rr / ow, ox = rr % ow;
		const float *src = dcol + (int64_t)r * kc;
		int ix0 = ox * s - p;
		for (int ki = 0; ki < k; ki++) {
			int iy = oy * s - p + ki;
			if (iy < 0 || iy >= h) {
				continue;
			}
			int lo = ix0 < 0 ? -ix0 : 0, hi = ix0 + k > w ? w - ix0 : k;
			float *d = dx + ((int64_t)(img * h + iy) * w + ix0 + lo) * c;
			const float *sv = src + (ki * k + lo) * c;
			for (int i = 0; i < (hi - lo) * c; i++) {
				d[i] += sv[i];
			}
		}
	}
}
*/
import "C"

import "unsafe"

// Kernels names the implementation of the hot kernels in this build.
const Kernels = "C (cgo)"

func fp(s []float32) *C.float {
	if len(s) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&s[0]))
}

func dp(s []float64) *C.double { return (*C.double)(unsafe.Pointer(&s[0])) }

func cb(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func ci(i int) C.int { return C.int(i) }

func chanSums(x []float32, rows, c, chunk int, shift []float32, sq bool, sum []float64) {
	C.chan_sums(fp(x), ci(rows), ci(c), ci(chunk), fp(shift), cb(sq), dp(sum))
}
func bnApply(x, y, res []float32, rows, c int, scale, shift []float32, relu bool) {
	C.bn_apply(fp(x), fp(y), fp(res), ci(rows), ci(c), fp(scale), fp(shift), cb(relu))
}
func bnBackSums(x, dy []float32, rows, c, chunk int, mean, istd, scale, shift []float32, relu bool, s1, s2 []float64) {
	C.bn_back_sums(fp(x), fp(dy), ci(rows), ci(c), ci(chunk), fp(mean), fp(istd), fp(scale), fp(shift), cb(relu), dp(s1), dp(s2))
}
func bnBackApply(x, dy, dx []float32, rows, c int, mean, istd, scale, shift, k, mdy, mdyx []float32, relu bool) {
	C.bn_back_apply(fp(x), fp(dy), fp(dx), ci(rows), ci(c), fp(mean), fp(istd), fp(scale), fp(shift), fp(k), fp(mdy), fp(mdyx), cb(relu))
}
func reluMask(dy, y []float32) { C.relu_mask(fp(dy), fp(y), C.int64_t(len(dy))) }
func add(dst, src []float32)   { C.add_to(fp(dst), fp(src), C.int64_t(len(dst))) }

func weightsKCO(w, wk []float32, g convGeom) {
	C.weights_kco(fp(w), fp(wk), ci(g.o), ci(g.c), ci(g.k*g.k), 0)
}
func weightsKCOBack(dwk, dw []float32, g convGeom) {
	C.weights_kco(fp(dw), fp(dwk), ci(g.o), ci(g.c), ci(g.k*g.k), 1)
}

func im2col(x, col []float32, g convGeom, r0, n int) {
	C.im2col(fp(x), fp(col), ci(g.h), ci(g.w), ci(g.c), ci(g.k), ci(g.s), ci(g.p), ci(g.oh), ci(g.ow), ci(r0), ci(n))
}
func col2im(dcol, dx []float32, g convGeom, r0, n int) {
	C.col2im(fp(dcol), fp(dx), ci(g.h), ci(g.w), ci(g.c), ci(g.k), ci(g.s), ci(g.p), ci(g.oh), ci(g.ow), ci(r0), ci(n))
}
