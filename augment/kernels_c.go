//go:build cgo && !noturbojpeg

package augment

/*
#cgo CFLAGS: -O3 -Wall -Wextra
#include "kernels.h"
*/
import "C"

import "unsafe"

// Kernels names the implementation of the pixel passes in this build.
const Kernels = "C (cgo)"

// The constants of kernels.h are the Go ones: an array of negative length does not compile.
var (
	_ [C.nat_op_brightness - opBrightness]struct{}
	_ [opBrightness - C.nat_op_brightness]struct{}
	_ [C.nat_max_pairs - maxPairs]struct{}
	_ [maxPairs - C.nat_max_pairs]struct{}
	_ [C.nat_op_hue - opHue]struct{}
	_ [opHue - C.nat_op_hue]struct{}
	_ [C.nat_op_contrast - opContrast]struct{}
	_ [opContrast - C.nat_op_contrast]struct{}
	_ [C.nat_op_saturation - opSaturation]struct{}
	_ [opSaturation - C.nat_op_saturation]struct{}
)

// resample is resampleGo in C.
func (w *Worker) resample() {
	tx, ty, img := &w.tx, &w.ty, &w.img
	cols := 3 * (tx.hi - tx.lo)
	w.row = grow(w.row, cols+1) // hsum reads one float past the last pixel
	w.row[cols] = 0
	ow, oh := len(tx.start), len(ty.start)
	C.nat_resample((*C.uint8_t)(&img.Pix[0]), C.intptr_t(3*img.W), C.intptr_t(3*(tx.lo-img.X)), C.intptr_t(img.Y),
		(*C.intptr_t)(unsafe.Pointer(&ty.start[0])), (*C.float)(&ty.w[0]), C.int(ty.n), C.int(oh),
		(*C.intptr_t)(unsafe.Pointer(&tx.start[0])), C.intptr_t(tx.lo), (*C.float)(&tx.w[0]), C.int(tx.n), C.int(ow),
		C.int(cols), (*C.float)(&w.row[0]), (*C.float)(&w.hwc[0]))
}

// colour is colourGo in C.
func colour(v *viewParams, px []float32, rowLen int) {
	ops, nops := v.colourOps()
	factor := [4]float32{v.bright, v.contr, v.satur, v.hue} // indexed by op
	gray := C.int(0)
	if v.gray {
		gray = 1
	}
	C.nat_colour((*C.float)(&px[0]), C.int(len(px)), C.int(rowLen), (*C.uint8_t)(&ops[0]), C.int(nops),
		(*C.float)(&factor[0]), gray)
}

// gaussianBlur is gaussianBlurGo in C.
func gaussianBlur(px, tmp []float32, w, h, r int, sigma float64) {
	if r <= 0 {
		return
	}
	var kbuf [2*maxPairs + 1]float32
	k := gaussianKernel(r, sigma, kbuf[:0])[r:]
	_ = tmp[len(px)+3*(w+2*r)-1]
	C.nat_blur((*C.float)(&px[0]), (*C.float)(&tmp[0]), C.int(w), C.int(h), C.int(r), (*C.float)(&k[0]))
}

// normalise is normaliseGo in C.
func normalise(px, dst []float32, n int, solarize bool) {
	a, c := normCoeffs()
	sol := C.int(0)
	if solarize {
		sol = 1
	}
	_, _ = px[3*n-1], dst[3*n-1]
	C.nat_normalise((*C.float)(&px[0]), (*C.float)(&dst[0]), C.int(n), sol,
		C.float(a[0]), C.float(a[1]), C.float(a[2]), C.float(c[0]), C.float(c[1]), C.float(c[2]))
}
