package augment

import (
	"image"
	"math"
)

// box is the crop in the pixels of the image decoded at 1/denom: every pixel it touches.
func (v *viewParams) box(denom int) image.Rectangle {
	d := float64(denom)
	return image.Rect(int(math.Floor(float64(v.cx)/d)), int(math.Floor(float64(v.cy)/d)),
		int(math.Ceil(float64(v.cx+v.cw)/d)), int(math.Ceil(float64(v.cy+v.ch)/d)))
}

// render builds one view from w.img (decoded at 1/denom of the source size) into dst.
func (w *Worker) render(v *viewParams, denom int, dst []float32) {
	s := v.size
	d := float64(denom)
	x0, x1 := float64(v.cx)/d, float64(v.cx+v.cw)/d
	y0, y1 := float64(v.cy)/d, float64(v.cy+v.ch)/d
	// Taps stay inside the crop, as torchvision crops before it resizes.
	b := v.box(denom).Intersect(image.Rect(w.img.X, w.img.Y, w.img.X+w.img.W, w.img.Y+w.img.H))
	w.tx.make(x0, x1, b.Min.X, b.Max.X, s, v.flip)
	w.ty.make(y0, y1, b.Min.Y, b.Max.Y, s, false)
	w.hwc = grow(w.hwc, 3*s*s)
	w.resample()
	px := w.hwc
	if v.jitter || v.gray {
		colour(v, px, 3*s)
	}
	if v.blur {
		r := w.p.blurFor(s).radius(float64(v.sigma))
		w.tmp = grow(w.tmp, len(px)+3*(s+2*r))
		gaussianBlur(px, w.tmp, s, s, r, float64(v.sigma))
	}
	normalise(px, dst, s*s, v.solarize)
}

// colourOps lists the jitter operations that change anything, in the order drawn.
func (v *viewParams) colourOps() (ops [4]uint8, n int) {
	if !v.jitter {
		return ops, 0
	}
	for _, op := range v.order {
		switch {
		case op == opBrightness && v.bright != 1,
			op == opContrast && v.contr != 1,
			op == opSaturation && v.satur != 1,
			op == opHue && v.hue != 0:
			ops[n] = op
			n++
		}
	}
	return ops, n
}

// colourGo applies colour jitter (its operations in v.order) and grayscale to px (interleaved
// RGB, 0–255, rows of rowLen floats), one row at a time so that the row stays in cache while
// every operation runs over it. Contrast blends with the mean gray level of the image as it
// reaches that step, so the operations before it make a pass of their own.
func colourGo(v *viewParams, px []float32, rowLen int) {
	ops, nops := v.colourOps()
	// Operations before contrast run first, over every row, summing the gray level as they go;
	// then contrast, the rest and grayscale.
	split := 0
	for i, op := range ops[:nops] {
		if op == opContrast {
			split = i
		}
	}
	var mean float32
	if split > 0 || (nops > 0 && ops[0] == opContrast) {
		var sum float64
		for r := 0; r < len(px); r += rowLen {
			row := px[r : r+rowLen]
			for _, op := range ops[:split] {
				applyRow(v, op, 0, row)
			}
			sum += lumaSum(row)
		}
		mean = float32(sum / float64(len(px)/3))
	}
	for r := 0; r < len(px); r += rowLen {
		row := px[r : r+rowLen]
		for _, op := range ops[split:nops] {
			applyRow(v, op, mean, row)
		}
		if v.gray {
			for p := 0; p < len(row); p += 3 {
				l := luma(row[p], row[p+1], row[p+2])
				row[p], row[p+1], row[p+2] = l, l, l
			}
		}
	}
}

func lumaSum(row []float32) float64 {
	var s float32
	for p := 0; p < len(row); p += 3 {
		s += luma(row[p], row[p+1], row[p+2])
	}
	return float64(s)
}

// applyRow is one colour-jitter operation over a row, clamped to 0–255 like an 8-bit image.
// A blend with factor f <= 1 stays between its two inputs, so it needs no clamp.
func applyRow(v *viewParams, op uint8, mean float32, row []float32) {
	switch op {
	case opBrightness:
		f := v.bright
		if f <= 1 {
			for i, x := range row {
				row[i] = x * f
			}
			return
		}
		for i, x := range row {
			row[i] = min255(x * f)
		}
	case opContrast:
		f := v.contr
		m := (1 - f) * mean
		if f <= 1 {
			for i, x := range row {
				row[i] = f*x + m
			}
			return
		}
		for i, x := range row {
			row[i] = clamp255(f*x + m)
		}
	case opSaturation:
		f := v.satur
		for p := 0; p < len(row); p += 3 {
			px := row[p : p+3 : p+3]
			l := (1 - f) * luma(px[0], px[1], px[2])
			r, g, b := f*px[0]+l, f*px[1]+l, f*px[2]+l
			if f > 1 {
				r, g, b = clamp255(r), clamp255(g), clamp255(b)
			}
			px[0], px[1], px[2] = r, g, b
		}
	default:
		hueRow(row, v.hue)
	}
}

// luma is ITU-R 601 luma, as PIL's convert("L") and torchvision's rgb_to_grayscale use.
func luma(r, g, b float32) float32 { return 0.299*r + 0.587*g + 0.114*b }

// clamp255 and min255 compare and branch: the min and max builtins keep NaN and signed-zero
// semantics that cost a dozen instructions, and these values are never NaN.
func clamp255(x float32) float32 {
	if x < 0 {
		return 0
	}
	if x > 255 {
		return 255
	}
	return x
}

func min255(x float32) float32 {
	if x > 255 {
		return 255
	}
	return x
}

// hueRow rotates the hue of every pixel of row by h turns (-1 < h < 1), keeping saturation
// and value (HSV). The loop body is written out rather than calling a per-pixel function,
// which the compiler does not inline and which spilled the loop's state on every pixel.
// (A branch-free version built on the hsv2rgb ramps measured 3× slower on photos, whose
// neighbouring pixels share a hue sector, so these branches predict well.)
func hueRow(row []float32, h float32) {
	h6 := 6 * h
	for p := 0; p+3 <= len(row); p += 3 {
		px := row[p : p+3 : p+3]
		r, g, b := px[0], px[1], px[2]
		mx, mn := r, r
		if g > mx {
			mx = g
		} else {
			mn = g
		}
		if b > mx {
			mx = b
		} else if b < mn {
			mn = b
		}
		d := mx - mn
		if d <= 0 {
			continue
		}
		// Hue in sixths of a turn, in [0, 6) after the shift.
		var hh float32
		switch mx {
		case r:
			hh = (g - b) / d
		case g:
			hh = 2 + (b-r)/d
		default:
			hh = 4 + (r-g)/d
		}
		hh += h6
		if hh < 0 {
			hh += 6
		}
		if hh >= 6 {
			hh -= 6
		}
		i := int(hh)
		f := hh - float32(i)
		q, t := mx-d*f, mn+d*f
		switch i {
		case 0:
			px[0], px[1], px[2] = mx, t, mn
		case 1:
			px[0], px[1], px[2] = q, mx, mn
		case 2:
			px[0], px[1], px[2] = mn, mx, t
		case 3:
			px[0], px[1], px[2] = mn, q, mx
		case 4:
			px[0], px[1], px[2] = t, mn, mx
		default:
			px[0], px[1], px[2] = mx, mn, q
		}
	}
}

// normaliseGo writes n interleaved RGB pixels (0–255) to dst as planar CHW floats normalised
// with Mean and Std, solarizing first (inverting values of 128 and more) when asked.
func normaliseGo(px, dst []float32, n int, solarize bool) {
	a, c := normCoeffs()
	r, g, b := dst[:n], dst[n:2*n], dst[2*n:3*n]
	px = px[:3*n]
	if !solarize {
		for i := range r {
			r[i] = px[3*i]*a[0] + c[0]
			g[i] = px[3*i+1]*a[1] + c[1]
			b[i] = px[3*i+2]*a[2] + c[2]
		}
		return
	}
	sol := func(v float32) float32 {
		if v >= 128 {
			return 255 - v
		}
		return v
	}
	for i := range r {
		r[i] = sol(px[3*i])*a[0] + c[0]
		g[i] = sol(px[3*i+1])*a[1] + c[1]
		b[i] = sol(px[3*i+2])*a[2] + c[2]
	}
}

// normCoeffs are the scale and offset that normalise a 0–255 value of each channel.
func normCoeffs() (a, c [3]float32) {
	for k := range 3 {
		a[k] = 1 / (255 * Std[k])
		c[k] = -Mean[k] / Std[k]
	}
	return a, c
}
