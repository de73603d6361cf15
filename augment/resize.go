package augment

import "math"

// taps is a table of resampling weights along one axis: output i reads n consecutive source
// samples from start[i] with weights w[i*n : i*n+n] (zeros where its filter is shorter); n is
// the widest span of nonzero weights.
type taps struct {
	n      int
	start  []int
	w      []float32
	lo, hi int   // the source range any tap touches: [lo, hi)
	spans  []int // scratch for make
}

// make fills t for resampling the source interval [in0, in1) to out samples with PIL's
// antialiased bilinear filter: a triangle stretched by the shrink factor, so that shrinking
// averages every source pixel. Taps stay inside the source range [lo, hi). flip reverses the
// outputs, which folds a horizontal flip into the resize for free.
func (t *taps) make(in0, in1 float64, lo, hi, out int, flip bool) {
	scale := (in1 - in0) / float64(out)
	support := max(scale, 1) // the triangle's support is 1, stretched when shrinking
	inv := 1 / support
	weight := func(x int, center float64) float64 { return 1 - math.Abs((float64(x)+0.5-center)*inv) }
	// First pass: each output's span of nonzero taps, and the widest span.
	if cap(t.spans) < 2*out {
		t.spans = make([]int, 2*out)
	}
	spans := t.spans[:2*out]
	n := 1
	for i := range out {
		center := in0 + (float64(i)+0.5)*scale
		a := max(int(math.Floor(center-support+0.5)), lo)
		b := min(int(math.Floor(center+support+0.5)), hi)
		for a < b && weight(a, center) <= 0 {
			a++
		}
		for b > a && weight(b-1, center) <= 0 {
			b--
		}
		if a == b { // a degenerate box: take the nearest sample
			a = min(max(int(center), lo), hi-1)
			b = a + 1
		}
		spans[2*i], spans[2*i+1] = a, b
		n = max(n, b-a)
	}
	t.n = n
	if cap(t.w) < out*n {
		t.w = make([]float32, out*n)
	}
	t.w = t.w[:out*n]
	clear(t.w)
	t.lo, t.hi = hi, lo
	if cap(t.start) < out {
		t.start = make([]int, out)
	}
	t.start = t.start[:out]
	for i := range out {
		center := in0 + (float64(i)+0.5)*scale
		a, b := spans[2*i], spans[2*i+1]
		start := min(a, hi-n)
		o := i
		if flip {
			o = out - 1 - i
		}
		ws := t.w[o*n : o*n+n]
		var sum float64
		for x := a; x < b; x++ {
			f := max(weight(x, center), 0)
			ws[x-start] = float32(f)
			sum += f
		}
		if sum == 0 {
			ws[a-start], sum = 1, 1
		}
		for k := range ws {
			ws[k] = float32(float64(ws[k]) / sum)
		}
		t.start[o] = start
		t.lo, t.hi = min(t.lo, start), max(t.hi, start+n)
	}
}

// resampleGo writes the w.img region selected by w.tx and w.ty into w.hwc (out×out, or
// len(ty.start)×len(tx.start), interleaved RGB on a 0–255 scale): for each output row a
// vertical pass over the source rows into one float row, then a horizontal pass.
func (w *Worker) resampleGo() {
	tx, ty := &w.tx, &w.ty
	src, sw := w.img.Pix, w.img.W
	ow := len(tx.start)
	cols := tx.hi - tx.lo
	w.row = grow(w.row, 3*cols)
	row := w.row
	for y := range ty.start {
		wy := ty.w[y*ty.n : y*ty.n+ty.n]
		o := 3 * ((ty.start[y]-w.img.Y)*sw + tx.lo - w.img.X)
		stride := 3 * sw
		for k := 0; k < len(wy); {
			m := min(len(wy)-k, 4)
			var rows [4][]uint8
			var w4 [4]float32
			for j := range m {
				p := o + (k+j)*stride
				rows[j] = src[p : p+len(row)]
				w4[j] = wy[k+j]
			}
			vsum(row, rows, w4, m, k > 0)
			k += m
		}
		hsum(w.hwc[3*ow*y:3*ow*(y+1)], row, tx)
	}
}

// hsum resamples one row horizontally through tx (row starts at source column tx.lo).
func hsum(out, row []float32, tx *taps) {
	n := len(tx.w) / len(tx.start)
	switch n {
	case 2:
		for x, st := range tx.start {
			s := row[3*(st-tx.lo):][:6]
			w0, w1 := tx.w[2*x], tx.w[2*x+1]
			out[3*x] = w0*s[0] + w1*s[3]
			out[3*x+1] = w0*s[1] + w1*s[4]
			out[3*x+2] = w0*s[2] + w1*s[5]
		}
	case 3:
		for x, st := range tx.start {
			s := row[3*(st-tx.lo):][:9]
			w := tx.w[3*x:][:3]
			out[3*x] = w[0]*s[0] + w[1]*s[3] + w[2]*s[6]
			out[3*x+1] = w[0]*s[1] + w[1]*s[4] + w[2]*s[7]
			out[3*x+2] = w[0]*s[2] + w[1]*s[5] + w[2]*s[8]
		}
	case 4:
		for x, st := range tx.start {
			s := row[3*(st-tx.lo):][:12]
			w := tx.w[4*x:][:4]
			out[3*x] = (w[0]*s[0] + w[1]*s[3]) + (w[2]*s[6] + w[3]*s[9])
			out[3*x+1] = (w[0]*s[1] + w[1]*s[4]) + (w[2]*s[7] + w[3]*s[10])
			out[3*x+2] = (w[0]*s[2] + w[1]*s[5]) + (w[2]*s[8] + w[3]*s[11])
		}
	case 5:
		for x, st := range tx.start {
			s := row[3*(st-tx.lo):][:15]
			w := tx.w[5*x:][:5]
			out[3*x] = (w[0]*s[0] + w[1]*s[3]) + (w[2]*s[6] + w[3]*s[9]) + w[4]*s[12]
			out[3*x+1] = (w[0]*s[1] + w[1]*s[4]) + (w[2]*s[7] + w[3]*s[10]) + w[4]*s[13]
			out[3*x+2] = (w[0]*s[2] + w[1]*s[5]) + (w[2]*s[8] + w[3]*s[11]) + w[4]*s[14]
		}
	case 6:
		for x, st := range tx.start {
			s := row[3*(st-tx.lo):][:18]
			w := tx.w[6*x:][:6]
			out[3*x] = (w[0]*s[0] + w[1]*s[3]) + (w[2]*s[6] + w[3]*s[9]) + (w[4]*s[12] + w[5]*s[15])
			out[3*x+1] = (w[0]*s[1] + w[1]*s[4]) + (w[2]*s[7] + w[3]*s[10]) + (w[4]*s[13] + w[5]*s[16])
			out[3*x+2] = (w[0]*s[2] + w[1]*s[5]) + (w[2]*s[8] + w[3]*s[11]) + (w[4]*s[14] + w[5]*s[17])
		}
	default:
		for x, st := range tx.start {
			ws := tx.w[x*n : x*n+n]
			s := row[3*(st-tx.lo):][:3*n]
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

// vsum sets (or, with add, accumulates into) row the weighted sum of m <= 4 source rows:
// one pass over row per four taps instead of one per tap.
func vsum(row []float32, rows [4][]uint8, w [4]float32, m int, add bool) {
	switch m {
	case 1:
		s0, w0 := rows[0][:len(row)], w[0]
		if add {
			for i := range row {
				row[i] += w0 * u8f[s0[i]]
			}
		} else {
			for i := range row {
				row[i] = w0 * u8f[s0[i]]
			}
		}
	case 2:
		s0, s1 := rows[0][:len(row)], rows[1][:len(row)]
		w0, w1 := w[0], w[1]
		if add {
			for i := range row {
				row[i] += w0*u8f[s0[i]] + w1*u8f[s1[i]]
			}
		} else {
			for i := range row {
				row[i] = w0*u8f[s0[i]] + w1*u8f[s1[i]]
			}
		}
	case 3:
		s0, s1, s2 := rows[0][:len(row)], rows[1][:len(row)], rows[2][:len(row)]
		w0, w1, w2 := w[0], w[1], w[2]
		if add {
			for i := range row {
				row[i] += w0*u8f[s0[i]] + w1*u8f[s1[i]] + w2*u8f[s2[i]]
			}
		} else {
			for i := range row {
				row[i] = w0*u8f[s0[i]] + w1*u8f[s1[i]] + w2*u8f[s2[i]]
			}
		}
	default:
		s0, s1, s2, s3 := rows[0][:len(row)], rows[1][:len(row)], rows[2][:len(row)], rows[3][:len(row)]
		w0, w1, w2, w3 := w[0], w[1], w[2], w[3]
		if add {
			for i := range row {
				row[i] += w0*u8f[s0[i]] + w1*u8f[s1[i]] + w2*u8f[s2[i]] + w3*u8f[s3[i]]
			}
		} else {
			for i := range row {
				row[i] = w0*u8f[s0[i]] + w1*u8f[s1[i]] + w2*u8f[s2[i]] + w3*u8f[s3[i]]
			}
		}
	}
}

// u8f maps a byte to its float32 value: a table load is cheaper than an int-to-float
// conversion in these loops.
var u8f = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i)
	}
	return t
}()
