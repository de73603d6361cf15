//go:build cgo

package trainer

/*
#cgo CFLAGS: -O3
#include "kernels.h"

// The Winograd transforms of winograd.go in C, CB channels at a time; a test holds each to
// its Go twin.

// The fractions of G, as products.
#define R6 (1.0f / 6)
#define R12 (1.0f / 12)
#define R24 (1.0f / 24)

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

*/
import "C"

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
