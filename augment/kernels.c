//go:build cgo && !noturbojpeg

// The pixel passes of a view in C: see kernels.h.

#include <string.h>

#include "kernels.h"

// vsum: row[i] = sum over the taps of w[k] * src[k*stride + i], two taps per pass.
static void vsum(float *restrict row, const uint8_t *restrict src, intptr_t stride,
		const float *w, int n, int cols) {
	int k = 0;
	if (n >= 2) {
		const uint8_t *s0 = src, *s1 = src + stride;
		float w0 = w[0], w1 = w[1];
		for (int i = 0; i < cols; i++) {
			row[i] = w0 * (float)s0[i] + w1 * (float)s1[i];
		}
		k = 2;
	} else {
		float w0 = w[0];
		for (int i = 0; i < cols; i++) {
			row[i] = w0 * (float)src[i];
		}
		k = 1;
	}
	for (; k + 1 < n; k += 2) {
		const uint8_t *s0 = src + k * stride, *s1 = src + (k + 1) * stride;
		float w0 = w[k], w1 = w[k + 1];
		if (w0 == 0 && w1 == 0) {
			continue;
		}
		for (int i = 0; i < cols; i++) {
			row[i] += w0 * (float)s0[i] + w1 * (float)s1[i];
		}
	}
	if (k < n && w[k] != 0) {
		const uint8_t *s0 = src + k * stride;
		float w0 = w[k];
		for (int i = 0; i < cols; i++) {
			row[i] += w0 * (float)s0[i];
		}
	}
}

// v4f is four floats in GCC's and Clang's generic vector extension: one SIMD register where
// the target has them, plain scalar code where it has not.
typedef float v4f __attribute__((vector_size(16)));

static inline v4f load4(const float *p) {
	v4f v;
	memcpy(&v, p, sizeof v);
	return v;
}

// hsum: out pixel x = sum over the taps of w[x*n + k] * row pixel (start[x] - lo + k). Each
// tap multiplies four floats at once, the pixel's R, G, B and the next one's R (row has a float
// of padding past its end), and the fourth lane is dropped: one vector multiply-add per tap
// instead of three scalar ones (the compiler does not find this on its own).
static void hsum(float *restrict out, const float *restrict row, const intptr_t *start, intptr_t lo,
		const float *w, int n, int ow) {
	for (int x = 0; x < ow; x++) {
		const float *s = row + 3 * (start[x] - lo);
		const float *wx = w + x * n;
		v4f acc = {0, 0, 0, 0};
		for (int k = 0; k < n; k++) {
			acc += wx[k] * load4(s + 3 * k);
		}
		out[3 * x] = acc[0];
		out[3 * x + 1] = acc[1];
		out[3 * x + 2] = acc[2];
	}
}

void nat_resample(const uint8_t *pix, intptr_t stride, intptr_t x0, intptr_t y0,
		const intptr_t *ys, const float *yw, int yn, int oh,
		const intptr_t *xs, intptr_t xlo, const float *xw, int xn, int ow,
		int cols, float *row, float *out) {
	for (int y = 0; y < oh; y++) {
		vsum(row, pix + (ys[y] - y0) * stride + x0, stride, yw + y * yn, yn, cols);
		hsum(out + 3 * ow * y, row, xs, xlo, xw, xn, ow);
	}
}

static inline float clamp255(float x) { return x < 0 ? 0 : (x > 255 ? 255 : x); }
static inline float min255(float x) { return x > 255 ? 255 : x; }
static inline float luma(float r, float g, float b) { return 0.299f * r + 0.587f * g + 0.114f * b; }

// The colour passes work on planes: each chunk of up to chunk pixels of a row is split into
// R, G and B arrays, every operation runs over them with contiguous loads the compiler
// vectorises without shuffles, and the chunk is interleaved back.
enum { chunk = 256 };

typedef struct { float r[chunk], g[chunk], b[chunk]; } planes;

static void split(planes *restrict p, const float *restrict px, int n) {
	for (int i = 0; i < n; i++) {
		p->r[i] = px[3 * i];
		p->g[i] = px[3 * i + 1];
		p->b[i] = px[3 * i + 2];
	}
}

static void join(float *restrict px, const planes *restrict p, int n) {
	for (int i = 0; i < n; i++) {
		px[3 * i] = p->r[i];
		px[3 * i + 1] = p->g[i];
		px[3 * i + 2] = p->b[i];
	}
}

static void scale_plane(float *restrict x, int n, float f) {
	if (f <= 1) {
		for (int i = 0; i < n; i++) x[i] = x[i] * f;
	} else {
		for (int i = 0; i < n; i++) x[i] = min255(x[i] * f);
	}
}

static void blend_plane(float *restrict x, int n, float f, float m) {
	if (f <= 1) {
		for (int i = 0; i < n; i++) x[i] = f * x[i] + m;
	} else {
		for (int i = 0; i < n; i++) x[i] = clamp255(f * x[i] + m);
	}
}

static void saturation(planes *restrict p, int n, float f) {
	float *restrict r = p->r, *restrict g = p->g, *restrict b = p->b;
	if (f <= 1) {
		for (int i = 0; i < n; i++) {
			float l = (1 - f) * luma(r[i], g[i], b[i]);
			r[i] = f * r[i] + l;
			g[i] = f * g[i] + l;
			b[i] = f * b[i] + l;
		}
		return;
	}
	for (int i = 0; i < n; i++) {
		float l = (1 - f) * luma(r[i], g[i], b[i]);
		r[i] = clamp255(f * r[i] + l);
		g[i] = clamp255(f * g[i] + l);
		b[i] = clamp255(f * b[i] + l);
	}
}

// hue is hueRow without branches, so that it vectorises: the hue in sixths of a turn from
// whichever channel is the maximum, shifted and wrapped into [0, 6), and each channel rebuilt
// as V - (V - min) * clamp(min(k, 4 - k), 0, 1) with k = (5, 3, 1 + hue) mod 6 for R, G, B —
// the same values as hueRow's six sectors. Every candidate is computed and then selected:
// arithmetic inside a conditional would keep the compiler from vectorising (it might trap).
// (The optimize attribute lifts the same worry from the compares.)
__attribute__((optimize("no-trapping-math")))
static void hue(planes *restrict p, int n, float h) {
	float *restrict pr = p->r, *restrict pg = p->g, *restrict pb = p->b;
	float h6 = 6 * h;
	for (int i = 0; i < n; i++) {
		float r = pr[i], g = pg[i], b = pb[i];
		float mx = r > g ? r : g;
		mx = mx > b ? mx : b;
		float mn = r < g ? r : g;
		mn = mn < b ? mn : b;
		float d = mx - mn;
		float inv = 1 / (d > 0 ? d : 1);
		float hr = (g - b) * inv, hg = 2 + (b - r) * inv, hb = 4 + (r - g) * inv;
		float hh = (mx == r ? hr : (mx == g ? hg : hb)) + h6;
		float up = hh + 6;
		hh = hh < 0 ? up : hh;
		float down = hh - 6; // from the wrapped value: -1e-8 + 6 rounds to 6
		hh = hh >= 6 ? down : hh;
		float kr = 5 + hh, kg = 3 + hh, kb = 1 + hh;
		float kr6 = kr - 6, kg6 = kg - 6, kb6 = kb - 6;
		kr = kr >= 6 ? kr6 : kr;
		kg = kg >= 6 ? kg6 : kg;
		kb = kb >= 6 ? kb6 : kb;
		float rr = 4 - kr, rg = 4 - kg, rb = 4 - kb;
		float fr = kr < rr ? kr : rr, fg = kg < rg ? kg : rg, fb = kb < rb ? kb : rb;
		fr = fr < 0 ? 0 : (fr > 1 ? 1 : fr);
		fg = fg < 0 ? 0 : (fg > 1 ? 1 : fg);
		fb = fb < 0 ? 0 : (fb > 1 ? 1 : fb);
		// A gray pixel (d = 0) comes back unchanged: mx - 0 is r = g = b.
		pr[i] = mx - d * fr;
		pg[i] = mx - d * fg;
		pb[i] = mx - d * fb;
	}
}

// apply is one operation on a chunk; f is its factor, or the hue shift for nat_op_hue; mean is
// the gray level contrast blends with.
static void apply(planes *p, int n, int op, float f, float mean) {
	switch (op) {
	case nat_op_brightness:
		scale_plane(p->r, n, f);
		scale_plane(p->g, n, f);
		scale_plane(p->b, n, f);
		break;
	case nat_op_contrast: {
		float m = (1 - f) * mean;
		blend_plane(p->r, n, f, m);
		blend_plane(p->g, n, f, m);
		blend_plane(p->b, n, f, m);
		break;
	}
	case nat_op_saturation:
		saturation(p, n, f);
		break;
	default:
		hue(p, n, f);
	}
}

// colour_pass runs ops[from:to] over px, row by row in chunks, and returns the sum of the
// rows' gray levels afterwards (each row summed in float, as lumaSum does) when sum is set,
// then grayscale when gray is set.
static double colour_pass(float *px, int len, int rowLen, const uint8_t *ops, int from, int to,
		const float *factor, float mean, int sum, int gray) {
	planes p;
	double total = 0;
	for (int r = 0; r < len; r += rowLen) {
		float rowSum = 0;
		for (int c = 0; c < rowLen / 3; c += chunk) {
			int n = rowLen / 3 - c < chunk ? rowLen / 3 - c : chunk;
			float *x = px + r + 3 * c;
			split(&p, x, n);
			for (int i = from; i < to; i++) {
				apply(&p, n, ops[i], factor[ops[i]], mean);
			}
			if (sum) {
				for (int i = 0; i < n; i++) {
					rowSum += luma(p.r[i], p.g[i], p.b[i]);
				}
			}
			if (gray) {
				for (int i = 0; i < n; i++) {
					float l = luma(p.r[i], p.g[i], p.b[i]);
					p.r[i] = l;
					p.g[i] = l;
					p.b[i] = l;
				}
			}
			if (from < to || gray) {
				join(x, &p, n);
			}
		}
		total += rowSum;
	}
	return total;
}

// nat_colour is colourGo: ops[:nops] in order (factor[op] their factors, the hue shift for
// nat_op_hue); contrast blends with the mean gray level of the image as it reaches that step,
// so the operations before it make a pass of their own; then the rest and grayscale.
void nat_colour(float *px, int len, int rowLen, const uint8_t *ops, int nops,
		const float *factor, int gray) {
	int split = 0;
	for (int i = 0; i < nops; i++) {
		if (ops[i] == nat_op_contrast) {
			split = i;
		}
	}
	float mean = 0;
	if (split > 0 || (nops > 0 && ops[0] == nat_op_contrast)) {
		double sum = colour_pass(px, len, rowLen, ops, 0, split, factor, 0, 1, 0);
		mean = (float)(sum / (double)(len / 3));
	}
	if (split < nops || gray) {
		colour_pass(px, len, rowLen, ops, split, nops, factor, mean, 0, gray);
	}
}

static inline int reflect(int i, int n) {
	if (n == 1) {
		return 0;
	}
	while (i < 0 || i >= n) {
		if (i < 0) {
			i = -i;
		}
		if (i >= n) {
			i = 2 * (n - 1) - i;
		}
	}
	return i;
}

// symmetric_sum: out[i] = k[0]*c[i] + sum over j of k[j]*(a[j-1][i] + b[j-1][i]).
static void symmetric_sum(float *restrict out, const float *restrict c, const float *const *a,
		const float *const *b, const float *k, int r, int n) {
	float k0 = k[0];
	for (int i = 0; i < n; i++) {
		out[i] = k0 * c[i];
	}
	int j = 0;
	for (; j + 1 < r; j += 2) {
		const float *restrict a0 = a[j], *restrict b0 = b[j], *restrict a1 = a[j + 1], *restrict b1 = b[j + 1];
		float k1 = k[j + 1], k2 = k[j + 2];
		for (int i = 0; i < n; i++) {
			out[i] += k1 * (a0[i] + b0[i]) + k2 * (a1[i] + b1[i]);
		}
	}
	if (j < r) {
		const float *restrict a0 = a[j], *restrict b0 = b[j];
		float k1 = k[j + 1];
		for (int i = 0; i < n; i++) {
			out[i] += k1 * (a0[i] + b0[i]);
		}
	}
}

// nat_blur is gaussianBlurGo with the kernel k[0..r] (k[j] weighs offsets ±j); tmp holds
// w*h*3 + 3*(w+2r) floats.
void nat_blur(float *px, float *tmp, int w, int h, int r, const float *k) {
	const float *a[nat_max_pairs], *b[nat_max_pairs];
	int stride = 3 * w;
	float *img = tmp, *pad = tmp + (size_t)stride * h;
	for (int y = 0; y < h; y++) {
		const float *in = px + (size_t)y * stride;
		memcpy(pad + 3 * r, in, sizeof(float) * stride);
		for (int x = 1; x <= r; x++) {
			int ia = 3 * reflect(-x, w), ib = 3 * reflect(w - 1 + x, w);
			memcpy(pad + 3 * (r - x), in + ia, 3 * sizeof(float));
			memcpy(pad + 3 * (r + w - 1 + x), in + ib, 3 * sizeof(float));
		}
		for (int j = 1; j <= r; j++) {
			a[j - 1] = pad + 3 * (r - j);
			b[j - 1] = pad + 3 * (r + j);
		}
		symmetric_sum(img + (size_t)y * stride, pad + 3 * r, a, b, k, r, stride);
	}
	for (int y = 0; y < h; y++) {
		for (int j = 1; j <= r; j++) {
			a[j - 1] = img + (size_t)reflect(y - j, h) * stride;
			b[j - 1] = img + (size_t)reflect(y + j, h) * stride;
		}
		symmetric_sum(px + (size_t)y * stride, img + (size_t)y * stride, a, b, k, r, stride);
	}
}

// nat_normalise is normaliseGo: interleaved RGB (0–255) to planar CHW, a*v + c per channel.
void nat_normalise(const float *restrict px, float *restrict dst, int n, int solarize,
		float a0, float a1, float a2, float c0, float c1, float c2) {
	float *restrict r = dst, *restrict g = dst + n, *restrict b = dst + 2 * n;
	if (!solarize) {
		for (int i = 0; i < n; i++) {
			r[i] = px[3 * i] * a0 + c0;
			g[i] = px[3 * i + 1] * a1 + c1;
			b[i] = px[3 * i + 2] * a2 + c2;
		}
		return;
	}
	for (int i = 0; i < n; i++) {
		float vr = px[3 * i], vg = px[3 * i + 1], vb = px[3 * i + 2];
		r[i] = (vr >= 128 ? 255 - vr : vr) * a0 + c0;
		g[i] = (vg >= 128 ? 255 - vg : vg) * a1 + c1;
		b[i] = (vb >= 128 ? 255 - vb : vb) * a2 + c2;
	}
}
