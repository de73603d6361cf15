package augment

import "math"

// render builds one view from w.img (decoded at 1/denom of the source size) into dst.
func (w *Worker) render(v *viewParams, denom int, dst []float32) {
	s := w.p.size
	d := float64(denom)
	x0, x1 := float64(v.cx)/d, float64(v.cx+v.cw)/d
	y0, y1 := float64(v.cy)/d, float64(v.cy+v.ch)/d
	// Taps stay inside the crop, as torchvision crops before it resizes.
	lx, hx := int(math.Floor(x0)), min(int(math.Ceil(x1)), w.img.W)
	ly, hy := int(math.Floor(y0)), min(int(math.Ceil(y1)), w.img.H)
	w.tx.make(x0, x1, lx, hx, s, v.flip)
	w.ty.make(y0, y1, ly, hy, s, false)
	w.hwc = grow(w.hwc, 3*s*s)
	w.resample()
	px := w.hwc
	if v.jitter || v.gray {
		colour(v, px)
	}
	if v.blur {
		w.tmp = grow(w.tmp, len(px))
		gaussianBlur(px, w.tmp, s, s, w.p.blur.radius(float64(v.sigma)), float64(v.sigma))
	}
	normalise(px, dst, s*s, v.solarize)
}

// colour applies colour jitter (its four operations in v.order) and grayscale to every pixel
// of px (interleaved RGB, 0–255) in one pass; contrast needs the mean gray level of the image
// as it reaches that step, which a first pass computes when contrast is not the first step.
func colour(v *viewParams, px []float32) {
	var ops [4]uint8
	nops := 0
	if v.jitter {
		for _, op := range v.order {
			switch {
			case op == opBrightness && v.bright != 1,
				op == opContrast && v.contr != 1,
				op == opSaturation && v.satur != 1,
				op == opHue && v.hue != 0:
				ops[nops] = op
				nops++
			}
		}
	}
	var mean float32
	for i, op := range ops[:nops] {
		if op != opContrast {
			continue
		}
		var sum float64
		for p := 0; p < len(px); p += 3 {
			r, g, b := px[p], px[p+1], px[p+2]
			for _, prev := range ops[:i] {
				r, g, b = apply(v, prev, 0, r, g, b)
			}
			sum += float64(luma(r, g, b))
		}
		mean = float32(sum / float64(len(px)/3))
	}
	for p := 0; p < len(px); p += 3 {
		r, g, b := px[p], px[p+1], px[p+2]
		for _, op := range ops[:nops] {
			r, g, b = apply(v, op, mean, r, g, b)
		}
		if v.gray {
			l := luma(r, g, b)
			r, g, b = l, l, l
		}
		px[p], px[p+1], px[p+2] = r, g, b
	}
}

// apply is one colour-jitter operation on one pixel, clamped to 0–255 like an 8-bit image.
func apply(v *viewParams, op uint8, mean, r, g, b float32) (float32, float32, float32) {
	switch op {
	case opBrightness:
		f := v.bright
		return clamp255(r * f), clamp255(g * f), clamp255(b * f)
	case opContrast:
		f := v.contr
		m := (1 - f) * mean
		return clamp255(f*r + m), clamp255(f*g + m), clamp255(f*b + m)
	case opSaturation:
		f := v.satur
		l := (1 - f) * luma(r, g, b)
		return clamp255(f*r + l), clamp255(f*g + l), clamp255(f*b + l)
	default:
		return hueShift(r, g, b, v.hue)
	}
}

// luma is ITU-R 601 luma, as PIL's convert("L") and torchvision's rgb_to_grayscale use.
func luma(r, g, b float32) float32 { return 0.299*r + 0.587*g + 0.114*b }

func clamp255(x float32) float32 { return min(max(x, 0), 255) }

// hueShift rotates the hue by h turns, keeping saturation and value (HSV).
func hueShift(r, g, b, h float32) (float32, float32, float32) {
	mx := max(r, g, b)
	mn := min(r, g, b)
	d := mx - mn
	if d <= 0 {
		return r, g, b
	}
	var hh float32
	switch mx {
	case r:
		hh = (g - b) / d
	case g:
		hh = 2 + (b-r)/d
	default:
		hh = 4 + (r-g)/d
	}
	hh = hh/6 + h
	hh -= float32(math.Floor(float64(hh)))
	hh *= 6
	i := int(hh)
	f := hh - float32(i)
	p, q, t := mn, mx-d*f, mn+d*f
	switch i {
	case 0:
		return mx, t, p
	case 1:
		return q, mx, p
	case 2:
		return p, mx, t
	case 3:
		return p, q, mx
	case 4:
		return t, p, mx
	default:
		return mx, p, q
	}
}

// normalise writes n interleaved RGB pixels (0–255) to dst as planar CHW floats normalised
// with Mean and Std, solarizing first (inverting values of 128 and more) when asked.
func normalise(px, dst []float32, n int, solarize bool) {
	var a, c [3]float32
	for k := range 3 {
		a[k] = 1 / (255 * Std[k])
		c[k] = -Mean[k] / Std[k]
	}
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
