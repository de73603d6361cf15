package augment

import "math"

// taps is a table of resampling weights along one axis: output i reads n consecutive source
// samples from start[i] with weights w[i*n : i*n+n] (zeros where the filter is shorter).
type taps struct {
	n      int
	start  []int
	w      []float32
	lo, hi int // the source range any tap touches: [lo, hi)
}

// make fills t for resampling the source interval [in0, in1) to out samples with PIL's
// antialiased bilinear filter: a triangle stretched by the shrink factor, so that shrinking
// averages every source pixel. Taps stay inside the source range [lo, hi). flip reverses the
// outputs, which folds a horizontal flip into the resize for free.
func (t *taps) make(in0, in1 float64, lo, hi, out int, flip bool) {
	scale := (in1 - in0) / float64(out)
	fscale := max(scale, 1)
	support := fscale // the triangle's support is 1
	n := min(int(math.Ceil(support))*2+1, hi-lo)
	t.n = n
	if cap(t.start) < out {
		t.start = make([]int, out)
	}
	t.start = t.start[:out]
	if cap(t.w) < out*n {
		t.w = make([]float32, out*n)
	}
	t.w = t.w[:out*n]
	clear(t.w)
	t.lo, t.hi = hi, lo
	inv := 1 / fscale
	for i := range out {
		center := in0 + (float64(i)+0.5)*scale
		xmin := max(int(math.Floor(center-support+0.5)), lo)
		xmax := min(int(math.Floor(center+support+0.5)), hi)
		xmax = min(xmax, xmin+n)
		start := min(xmin, hi-n)
		o := i
		if flip {
			o = out - 1 - i
		}
		ws := t.w[o*n : o*n+n]
		var sum float64
		for x := xmin; x < xmax; x++ {
			f := 1 - math.Abs((float64(x)+0.5-center)*inv)
			if f > 0 {
				ws[x-start] = float32(f)
				sum += f
			}
		}
		if sum == 0 { // a degenerate box: take the nearest sample
			x := min(max(int(center), lo), hi-1)
			start = min(x, hi-n)
			clear(ws)
			ws[x-start] = 1
			sum = 1
		}
		for k := range ws {
			ws[k] = float32(float64(ws[k]) / sum)
		}
		t.start[o] = start
		t.lo, t.hi = min(t.lo, start), max(t.hi, start+n)
	}
}

// resample writes the w.img region selected by w.tx and w.ty into w.hwc (out×out, or
// len(ty.start)×len(tx.start), interleaved RGB on a 0–255 scale): for each output row a
// vertical pass over the source rows into one float row, then a horizontal pass.
func (w *Worker) resample() {
	tx, ty := &w.tx, &w.ty
	src, sw := w.img.Pix, w.img.W
	ow := len(tx.start)
	cols := tx.hi - tx.lo
	w.row = grow(w.row, 3*cols)
	row := w.row
	for y := range ty.start {
		clear(row)
		wy := ty.w[y*ty.n : y*ty.n+ty.n]
		base := ty.start[y]
		for k, wt := range wy {
			if wt == 0 {
				continue
			}
			o := 3 * ((base+k)*sw + tx.lo)
			s := src[o : o+len(row)]
			for i, v := range s {
				row[i] += wt * float32(v)
			}
		}
		out := w.hwc[3*ow*y : 3*ow*(y+1)]
		n := tx.n
		for x := range ow {
			ws := tx.w[x*n : x*n+n]
			s := row[3*(tx.start[x]-tx.lo):]
			var r, g, b float32
			for k, wt := range ws {
				r += wt * s[3*k]
				g += wt * s[3*k+1]
				b += wt * s[3*k+2]
			}
			out[3*x], out[3*x+1], out[3*x+2] = r, g, b
		}
	}
}
