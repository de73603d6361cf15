//go:build cgo && !noturbojpeg

// The pixel passes of a view in C, compiled into the same cgo build that links libjpeg-turbo
// (kernels_c.go calls them; kernels_go.go is the pure-Go build's twin). They are the Go passes
// (resampleGo, colourGo, gaussianBlurGo, normaliseGo) written so that the compiler vectorises
// the wide loops (SSE2, the amd64 baseline; NEON on arm64): the vertical resample from bytes,
// the colour blends and clamps, the blur and the normalisation. A test holds each to its Go
// twin.

#ifndef NATSSL_AUGMENT_KERNELS_H
#define NATSSL_AUGMENT_KERNELS_H

#include <stdint.h>

// The colour operations, numbered as the Go constants opBrightness, opContrast, opSaturation
// and opHue are (kernels_c.go checks that they agree).
enum { nat_op_brightness, nat_op_contrast, nat_op_saturation, nat_op_hue };

// nat_max_pairs bounds the blur kernel's radius, as maxPairs does in Go.
enum { nat_max_pairs = 32 };

// nat_resample is resampleGo: for each output row y, the vertical taps ys[y]... (yn of them,
// weights yw[y*yn...]) summed from the bytes of pix (rows of stride bytes, the region's
// corner at x0, y0) into row (cols floats and one of padding), then the horizontal taps (xn
// per output pixel from xs[x] - xlo, weights xw[x*xn...]) into ow RGB pixels of out.
void nat_resample(const uint8_t *pix, intptr_t stride, intptr_t x0, intptr_t y0,
		const intptr_t *ys, const float *yw, int yn, int oh,
		const intptr_t *xs, intptr_t xlo, const float *xw, int xn, int ow,
		int cols, float *row, float *out);

// nat_colour is colourGo on len floats of interleaved RGB in rows of rowLen floats: ops[:nops]
// in order (factor[op] their factors, the hue shift for nat_op_hue), then grayscale when gray.
void nat_colour(float *px, int len, int rowLen, const uint8_t *ops, int nops,
		const float *factor, int gray);

// nat_blur is gaussianBlurGo with the kernel k[0..r] (k[j] weighs offsets ±j, r at most
// nat_max_pairs) on a w × h RGB image; tmp holds w*h*3 + 3*(w+2r) floats.
void nat_blur(float *px, float *tmp, int w, int h, int r, const float *k);

// nat_normalise is normaliseGo: n interleaved RGB pixels (0–255) to planar CHW in dst, a*v + c
// per channel, solarized first when solarize is set.
void nat_normalise(const float *restrict px, float *restrict dst, int n, int solarize,
		float a0, float a1, float a2, float c0, float c1, float c2);

#endif
