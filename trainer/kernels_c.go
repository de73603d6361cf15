//go:build cgo

package trainer

/*
#cgo CFLAGS: -O3
#include <stdint.h>
#include <string.h>

// The hot kernels of kernels.go, winograd.go and im2col.go in C, written so that the compiler
// vectorises the loops over channels. On x86-64 GCC builds each in three versions (AVX-512,
// AVX2 with FMA, the SSE2 baseline) and the loader picks the best the CPU has at start-up.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define MV __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MV
#endif

#define R6 (1.0f / 6)
#define R12 (1.0f / 12)
#define R24 (1.0f / 24)

// CB is the channel block of the Winograd transforms: 16 floats, one AVX-512 register.
#define CB 16

// cpy copies n ≤ CB floats; the common n = CB becomes vector moves rather than a call.
static inline void cpy(float *restrict d, const float *restrict s, int n) {
	if (n == CB) {
		memcpy(d, s, CB * sizeof(float));
	} else {
		memcpy(d, s, n * sizeof(float));
	}
}

static inline void tile_of(int t, int h, int w, int *img, int *y0, int *x0) {
	int th = (h + 3) / 4, tw = (w + 3) / 4;
	*img = t / (th * tw);
	int r = t % (th * tw);
	*y0 = r / tw * 4;
	*x0 = r % tw * 4;
}

MV void wino_input(const float *x, float *v, int h, int w, int c, int t0, int tb) {
	for (int ti = 0; ti < tb; ti++) {
		int img, y0, x0;
		tile_of(t0 + ti, h, w, &img, &y0, &x0);
		const float *src[6][6];
		for (int i = 0; i < 6; i++) {
			for (int j = 0; j < 6; j++) {
				int iy = y0 - 1 + i, ix = x0 - 1 + j;
				src[i][j] = (iy >= 0 && iy < h && ix >= 0 && ix < w) ? x + ((int64_t)(img * h + iy) * w + ix) * c : 0;
			}
		}
		for (int c0 = 0; c0 < c; c0 += CB) {
			int cb = c - c0 < CB ? c - c0 : CB;
			float d[6][6][CB], t[6][6][CB];
			for (int i = 0; i < 6; i++) {
				for (int j = 0; j < 6; j++) {
					if (src[i][j] && cb == CB) {
						memcpy(d[i][j], src[i][j] + c0, sizeof d[i][j]);
					} else {
						memset(d[i][j], 0, sizeof d[i][j]);
						if (src[i][j]) {
							cpy(d[i][j], src[i][j] + c0, cb);
						}
					}
				}
			}
			for (int j = 0; j < 6; j++) {
				for (int k = 0; k < CB; k++) {
					float d0 = d[0][j][k], d1 = d[1][j][k], d2 = d[2][j][k], d3 = d[3][j][k], d4 = d[4][j][k], d5 = d[5][j][k];
					t[0][j][k] = 4 * d0 - 5 * d2 + d4;
					t[1][j][k] = -4 * d1 - 4 * d2 + d3 + d4;
					t[2][j][k] = 4 * d1 - 4 * d2 - d3 + d4;
					t[3][j][k] = -2 * d1 - d2 + 2 * d3 + d4;
					t[4][j][k] = 2 * d1 - d2 - 2 * d3 + d4;
					t[5][j][k] = 4 * d1 - 5 * d3 + d5;
				}
			}
			for (int i = 0; i < 6; i++) {
				float *o[6];
				for (int j = 0; j < 6; j++) {
					o[j] = v + ((int64_t)(i * 6 + j) * tb + ti) * c + c0;
				}
				float r[6][CB];
				for (int k = 0; k < CB; k++) {
					float d0 = t[i][0][k], d1 = t[i][1][k], d2 = t[i][2][k], d3 = t[i][3][k], d4 = t[i][4][k], d5 = t[i][5][k];
					r[0][k] = 4 * d0 - 5 * d2 + d4;
					r[1][k] = -4 * d1 - 4 * d2 + d3 + d4;
					r[2][k] = 4 * d1 - 4 * d2 - d3 + d4;
					r[3][k] = -2 * d1 - d2 + 2 * d3 + d4;
					r[4][k] = 2 * d1 - d2 - 2 * d3 + d4;
					r[5][k] = 4 * d1 - 5 * d3 + d5;
				}
				for (int j = 0; j < 6; j++) {
					cpy(o[j], r[j], cb);
				}
			}
		}
	}
}

MV void wino_input_back(const float *dv, float *dx, int h, int w, int c, int t0, int tb) {
	for (int ti = 0; ti < tb; ti++) {
		int img, y0, x0;
		tile_of(t0 + ti, h, w, &img, &y0, &x0);
		for (int c0 = 0; c0 < c; c0 += CB) {
			int cb = c - c0 < CB ? c - c0 : CB;
			float t[6][6][CB];
			for (int i = 0; i < 6; i++) {
				float e[6][CB];
				for (int j = 0; j < 6; j++) {
					const float *s = dv + ((int64_t)(i * 6 + j) * tb + ti) * c + c0;
					if (cb < CB) {
						memset(e[j], 0, sizeof e[j]);
					}
					cpy(e[j], s, cb);
				}
				for (int k = 0; k < CB; k++) {
					float v0 = e[0][k], v1 = e[1][k], v2 = e[2][k], v3 = e[3][k], v4 = e[4][k], v5 = e[5][k];
					t[i][0][k] = 4 * v0;
					t[i][1][k] = -4 * v1 + 4 * v2 - 2 * v3 + 2 * v4 + 4 * v5;
					t[i][2][k] = -5 * v0 - 4 * v1 - 4 * v2 - v3 - v4;
					t[i][3][k] = v1 - v2 + 2 * v3 - 2 * v4 - 5 * v5;
					t[i][4][k] = v0 + v1 + v2 + v3 + v4;
					t[i][5][k] = v5;
				}
			}
			for (int j = 0; j < 6; j++) {
				int ix = x0 - 1 + j;
				if (ix < 0 || ix >= w) {
					continue;
				}
				float col[6][CB];
				for (int k = 0; k < CB; k++) {
					float v0 = t[0][j][k], v1 = t[1][j][k], v2 = t[2][j][k], v3 = t[3][j][k], v4 = t[4][j][k], v5 = t[5][j][k];
					col[0][k] = 4 * v0;
					col[1][k] = -4 * v1 + 4 * v2 - 2 * v3 + 2 * v4 + 4 * v5;
					col[2][k] = -5 * v0 - 4 * v1 - 4 * v2 - v3 - v4;
					col[3][k] = v1 - v2 + 2 * v3 - 2 * v4 - 5 * v5;
					col[4][k] = v0 + v1 + v2 + v3 + v4;
					col[5][k] = v5;
				}
				for (int i = 0; i < 6; i++) {
					int iy = y0 - 1 + i;
					if (iy < 0 || iy >= h) {
						continue;
					}
					float *d = dx + ((int64_t)(img * h + iy) * w + ix) * c + c0;
					for (int k = 0; k < cb; k++) {
						d[k] += col[i][k];
					}
				}
			}
		}
	}
}

MV void wino_output(const float *m, float *y, int h, int w, int o, int t0, int tb) {
	for (int ti = 0; ti < tb; ti++) {
		int img, y0, x0;
		tile_of(t0 + ti, h, w, &img, &y0, &x0);
		for (int c0 = 0; c0 < o; c0 += CB) {
			int cb = o - c0 < CB ? o - c0 : CB;
			float t[4][6][CB];
			for (int j = 0; j < 6; j++) {
				float e[6][CB];
				for (int i = 0; i < 6; i++) {
					if (cb < CB) {
						memset(e[i], 0, sizeof e[i]);
					}
					cpy(e[i], m + ((int64_t)(i * 6 + j) * tb + ti) * o + c0, cb);
				}
				for (int k = 0; k < CB; k++) {
					float m0 = e[0][k], m1 = e[1][k], m2 = e[2][k], m3 = e[3][k], m4 = e[4][k], m5 = e[5][k];
					t[0][j][k] = m0 + m1 + m2 + m3 + m4;
					t[1][j][k] = m1 - m2 + 2 * m3 - 2 * m4;
					t[2][j][k] = m1 + m2 + 4 * m3 + 4 * m4;
					t[3][j][k] = m1 - m2 + 8 * m3 - 8 * m4 + m5;
				}
			}
			for (int i = 0; i < 4; i++) {
				int oy = y0 + i;
				if (oy >= h) {
					break;
				}
				float r[4][CB];
				for (int k = 0; k < CB; k++) {
					float m0 = t[i][0][k], m1 = t[i][1][k], m2 = t[i][2][k], m3 = t[i][3][k], m4 = t[i][4][k], m5 = t[i][5][k];
					r[0][k] = m0 + m1 + m2 + m3 + m4;
					r[1][k] = m1 - m2 + 2 * m3 - 2 * m4;
					r[2][k] = m1 + m2 + 4 * m3 + 4 * m4;
					r[3][k] = m1 - m2 + 8 * m3 - 8 * m4 + m5;
				}
				for (int j = 0; j < 4 && x0 + j < w; j++) {
					cpy(y + ((int64_t)(img * h + oy) * w + x0 + j) * o + c0, r[j], cb);
				}
			}
		}
	}
}

MV void wino_output_back(const float *dy, float *dm, int h, int w, int o, int t0, int tb) {
	for (int ti = 0; ti < tb; ti++) {
		int img, y0, x0;
		tile_of(t0 + ti, h, w, &img, &y0, &x0);
		for (int c0 = 0; c0 < o; c0 += CB) {
			int cb = o - c0 < CB ? o - c0 : CB;
			float t[6][4][CB];
			for (int j = 0; j < 4; j++) {
				float g[4][CB];
				for (int i = 0; i < 4; i++) {
					if (cb < CB || y0 + i >= h || x0 + j >= w) {
						memset(g[i], 0, sizeof g[i]);
					}
					if (y0 + i < h && x0 + j < w) {
						cpy(g[i], dy + ((int64_t)(img * h + y0 + i) * w + x0 + j) * o + c0, cb);
					}
				}
				for (int k = 0; k < CB; k++) {
					float g0 = g[0][k], g1 = g[1][k], g2 = g[2][k], g3 = g[3][k];
					t[0][j][k] = g0;
					t[1][j][k] = g0 + g1 + g2 + g3;
					t[2][j][k] = g0 - g1 + g2 - g3;
					t[3][j][k] = g0 + 2 * g1 + 4 * g2 + 8 * g3;
					t[4][j][k] = g0 - 2 * g1 + 4 * g2 - 8 * g3;
					t[5][j][k] = g3;
				}
			}
			for (int i = 0; i < 6; i++) {
				float r[6][CB];
				for (int k = 0; k < CB; k++) {
					float g0 = t[i][0][k], g1 = t[i][1][k], g2 = t[i][2][k], g3 = t[i][3][k];
					r[0][k] = g0;
					r[1][k] = g0 + g1 + g2 + g3;
					r[2][k] = g0 - g1 + g2 - g3;
					r[3][k] = g0 + 2 * g1 + 4 * g2 + 8 * g3;
					r[4][k] = g0 - 2 * g1 + 4 * g2 - 8 * g3;
					r[5][k] = g3;
				}
				for (int j = 0; j < 6; j++) {
					cpy(dm + ((int64_t)(i * 6 + j) * tb + ti) * o + c0, r[j], cb);
				}
			}
		}
	}
}

// wino_weights and wino_weights_back work on CB input channels at a time, through wt, a
// CB·9·o buffer that holds their kernels transposed to [channel][tap][output], so that
// every loop streams: along the rows of w (or dw), and along o in U (or dU).
MV void wino_weights(const float *w, float *u, float *wt, int o, int c) {
	for (int c0 = 0; c0 < c; c0 += CB) {
		int cb = c - c0 < CB ? c - c0 : CB;
		for (int oi = 0; oi < o; oi++) {
			const float *src = w + ((int64_t)oi * c + c0) * 9;
			for (int k = 0; k < cb; k++) {
				for (int q = 0; q < 9; q++) {
					wt[(k * 9 + q) * o + oi] = src[k * 9 + q];
				}
			}
		}
		for (int k = 0; k < cb; k++) {
			const float *g = wt + k * 9 * o;
			for (int o0 = 0; o0 < o; o0 += CB) {
				int ob = o - o0 < CB ? o - o0 : CB;
				float gg[9][CB], t[6][3][CB], r[36][CB];
				if (ob < CB) {
					memset(gg, 0, sizeof gg);
				}
				for (int q = 0; q < 9; q++) {
					cpy(gg[q], g + q * o + o0, ob);
				}
				for (int j = 0; j < 3; j++) {
					for (int l = 0; l < CB; l++) {
						float g0 = gg[j][l], g1 = gg[3 + j][l], g2 = gg[6 + j][l];
						t[0][j][l] = g0 * 0.25f;
						t[1][j][l] = -(g0 + g1 + g2) * R6;
						t[2][j][l] = -(g0 - g1 + g2) * R6;
						t[3][j][l] = g0 * R24 + g1 * R12 + g2 * R6;
						t[4][j][l] = g0 * R24 - g1 * R12 + g2 * R6;
						t[5][j][l] = g2;
					}
				}
				for (int i = 0; i < 6; i++) {
					for (int l = 0; l < CB; l++) {
						float g0 = t[i][0][l], g1 = t[i][1][l], g2 = t[i][2][l];
						r[i * 6 + 0][l] = g0 * 0.25f;
						r[i * 6 + 1][l] = -(g0 + g1 + g2) * R6;
						r[i * 6 + 2][l] = -(g0 - g1 + g2) * R6;
						r[i * 6 + 3][l] = g0 * R24 + g1 * R12 + g2 * R6;
						r[i * 6 + 4][l] = g0 * R24 - g1 * R12 + g2 * R6;
						r[i * 6 + 5][l] = g2;
					}
				}
				for (int xi = 0; xi < 36; xi++) {
					cpy(u + ((int64_t)xi * c + c0 + k) * o + o0, r[xi], ob);
				}
			}
		}
	}
}

MV void wino_weights_back(const float *du, float *dw, float *wt, int o, int c) {
	for (int c0 = 0; c0 < c; c0 += CB) {
		int cb = c - c0 < CB ? c - c0 : CB;
		for (int k = 0; k < cb; k++) {
			float *g = wt + k * 9 * o;
			for (int o0 = 0; o0 < o; o0 += CB) {
				int ob = o - o0 < CB ? o - o0 : CB;
				float d[36][CB], t[6][3][CB], r[9][CB];
				if (ob < CB) {
					memset(d, 0, sizeof d);
				}
				for (int xi = 0; xi < 36; xi++) {
					cpy(d[xi], du + ((int64_t)xi * c + c0 + k) * o + o0, ob);
				}
				for (int i = 0; i < 6; i++) {
					for (int l = 0; l < CB; l++) {
						float d0 = d[i * 6][l], d1 = d[i * 6 + 1][l], d2 = d[i * 6 + 2][l];
						float d3 = d[i * 6 + 3][l], d4 = d[i * 6 + 4][l], d5 = d[i * 6 + 5][l];
						t[i][0][l] = d0 * 0.25f - (d1 + d2) * R6 + (d3 + d4) * R24;
						t[i][1][l] = (d2 - d1) * R6 + (d3 - d4) * R12;
						t[i][2][l] = (d3 + d4 - d1 - d2) * R6 + d5;
					}
				}
				for (int j = 0; j < 3; j++) {
					for (int l = 0; l < CB; l++) {
						float d0 = t[0][j][l], d1 = t[1][j][l], d2 = t[2][j][l], d3 = t[3][j][l], d4 = t[4][j][l], d5 = t[5][j][l];
						r[j][l] = d0 * 0.25f - (d1 + d2) * R6 + (d3 + d4) * R24;
						r[3 + j][l] = (d2 - d1) * R6 + (d3 - d4) * R12;
						r[6 + j][l] = (d3 + d4 - d1 - d2) * R6 + d5;
					}
				}
				for (int q = 0; q < 9; q++) {
					cpy(g + q * o + o0, r[q], ob);
				}
			}
		}
		for (int oi = 0; oi < o; oi++) {
			float *dst = dw + ((int64_t)oi * c + c0) * 9;
			for (int k = 0; k < cb; k++) {
				for (int q = 0; q < 9; q++) {
					dst[k * 9 + q] = wt[(k * 9 + q) * o + oi];
				}
			}
		}
	}
}

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

MV void im2col(const float *x, float *col, int h, int w, int c, int k, int s, int p, int oh, int ow, int r0, int rows) {
	int kc = k * k * c;
	for (int r = 0; r < rows; r++) {
		int q = r0 + r, img = q / (oh * ow), rr = q % (oh * ow), oy = rr / ow, ox = rr % ow;
		float *dst = col + (int64_t)r * kc;
		for (int ki = 0; ki < k; ki++) {
			int iy = oy * s - p + ki;
			for (int kj = 0; kj < k; kj++) {
				int ix = ox * s - p + kj;
				float *d = dst + (ki * k + kj) * c;
				if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
					memset(d, 0, c * sizeof(float));
				} else {
					const float *src = x + ((int64_t)(img * h + iy) * w + ix) * c;
					for (int ch = 0; ch < c; ch++) {
						d[ch] = src[ch];
					}
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
		for (int ki = 0; ki < k; ki++) {
			int iy = oy * s - p + ki;
			if (iy < 0 || iy >= h) {
				continue;
			}
			for (int kj = 0; kj < k; kj++) {
				int ix = ox * s - p + kj;
				if (ix < 0 || ix >= w) {
					continue;
				}
				float *d = dx + ((int64_t)(img * h + iy) * w + ix) * c;
				const float *sv = src + (ki * k + kj) * c;
				for (int ch = 0; ch < c; ch++) {
					d[ch] += sv[ch];
				}
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

func winoInput(x, v []float32, h, w, c, t0, tb int) {
	C.wino_input(fp(x), fp(v), ci(h), ci(w), ci(c), ci(t0), ci(tb))
}
func winoInputBack(dv, dx []float32, h, w, c, t0, tb int) {
	C.wino_input_back(fp(dv), fp(dx), ci(h), ci(w), ci(c), ci(t0), ci(tb))
}
func winoOutput(m, y []float32, h, w, o, t0, tb int) {
	C.wino_output(fp(m), fp(y), ci(h), ci(w), ci(o), ci(t0), ci(tb))
}
func winoOutputBack(dy, dm []float32, h, w, o, t0, tb int) {
	C.wino_output_back(fp(dy), fp(dm), ci(h), ci(w), ci(o), ci(t0), ci(tb))
}
func winoWeights(w, u, wt []float32, o, c int) {
	C.wino_weights(fp(w), fp(u), fp(wt[:winoWeightsScratch(o)]), ci(o), ci(c))
}
func winoWeightsBack(du, dw, wt []float32, o, c int) {
	C.wino_weights_back(fp(du), fp(dw), fp(wt[:winoWeightsScratch(o)]), ci(o), ci(c))
}

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
