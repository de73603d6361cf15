package augment

import (
	"math"

	"github.com/natssl/natssl/decode"
)

// This file is the plain reference the fast path is checked against: full-resolution decode,
// one operation at a time over the whole image, a 2-D resize computed pixel by pixel from the
// filter's definition, torchvision's untruncated blur kernel.

// refImage is a float RGB image on a 0–255 scale, pixel (x, y) channel c at [y][x][c].
type refImage [][][3]float64

func newRef(w, h int) refImage {
	m := make(refImage, h)
	for y := range m {
		m[y] = make([][3]float64, w)
	}
	return m
}

// refWeights are PIL's antialiased bilinear weights of output i over source pixels [lo, hi)
// when the interval [in0, in1) is resized to out samples.
// The result holds the weights of pixels first, first+1, ...: the nonzero ones.
func refWeights(in0, in1 float64, lo, hi, out, i int) (first int, ws []float64) {
	scale := (in1 - in0) / float64(out)
	support := math.Max(scale, 1)
	center := in0 + (float64(i)+0.5)*scale
	first = -1
	var sum float64
	for x := lo; x < hi; x++ {
		d := math.Abs(float64(x)+0.5-center) / support
		if d < 1 {
			if first < 0 {
				first = x
			}
			ws = append(ws, 1-d)
			sum += 1 - d
		}
	}
	for x := range ws {
		ws[x] /= sum
	}
	return first, ws
}

// refResize resizes the box [x0,x1)×[y0,y1) of src (taps limited to [lx,hx)×[ly,hy)) to ow×oh.
func refResize(src *decode.Image, x0, y0, x1, y1 float64, lx, ly, hx, hy, ow, oh int) refImage {
	out := newRef(ow, oh)
	fxs, wxs := make([]int, ow), make([][]float64, ow)
	for x := range ow {
		fxs[x], wxs[x] = refWeights(x0, x1, lx, hx, ow, x)
	}
	for y := range oh {
		fy, wy := refWeights(y0, y1, ly, hy, oh, y)
		for x := range ow {
			fx, wx := fxs[x], wxs[x]
			for i, a := range wy {
				for j, b := range wx {
					for c := range 3 {
						out[y][x][c] += a * b * float64(src.Pix[3*((fy+i)*src.W+fx+j)+c])
					}
				}
			}
		}
	}
	return out
}

func (m refImage) each(f func(p [3]float64) [3]float64) {
	for _, row := range m {
		for x := range row {
			p := f(row[x])
			for c := range p {
				p[c] = math.Min(math.Max(p[c], 0), 255)
			}
			row[x] = p
		}
	}
}

func refLuma(p [3]float64) float64 { return 0.299*p[0] + 0.587*p[1] + 0.114*p[2] }

func blend(p [3]float64, f, other float64) [3]float64 {
	for c := range p {
		p[c] = f*p[c] + (1-f)*other
	}
	return p
}

// refHue converts to HSV with the textbook formulas, shifts the hue and converts back.
func refHue(p [3]float64, shift float64) [3]float64 {
	r, g, b := p[0]/255, p[1]/255, p[2]/255
	mx, mn := math.Max(r, math.Max(g, b)), math.Min(r, math.Min(g, b))
	v, d := mx, mx-mn
	if d == 0 {
		return p
	}
	s := d / mx
	var h float64
	switch mx {
	case r:
		h = math.Mod((g-b)/d+6, 6)
	case g:
		h = (b-r)/d + 2
	default:
		h = (r-g)/d + 4
	}
	h = math.Mod(h/6+shift+1, 1) * 6
	cc := v * s
	xx := cc * (1 - math.Abs(math.Mod(h, 2)-1))
	var rr, gg, bb float64
	switch int(h) {
	case 0:
		rr, gg, bb = cc, xx, 0
	case 1:
		rr, gg, bb = xx, cc, 0
	case 2:
		rr, gg, bb = 0, cc, xx
	case 3:
		rr, gg, bb = 0, xx, cc
	case 4:
		rr, gg, bb = xx, 0, cc
	default:
		rr, gg, bb = cc, 0, xx
	}
	m := v - cc
	return [3]float64{255 * (rr + m), 255 * (gg + m), 255 * (bb + m)}
}

// refBlur is torchvision's GaussianBlur: kernel k, reflect padding, separable.
func refBlur(m refImage, k int, sigma float64) refImage {
	r := (k - 1) / 2
	ker := make([]float64, k)
	var sum float64
	for i := range ker {
		x := float64(i - r)
		ker[i] = math.Exp(-0.5 * x * x / (sigma * sigma))
		sum += ker[i]
	}
	for i := range ker {
		ker[i] /= sum
	}
	h, w := len(m), len(m[0])
	refl := func(i, n int) int {
		for i < 0 || i >= n {
			if i < 0 {
				i = -i
			}
			if i >= n {
				i = 2*(n-1) - i
			}
		}
		return i
	}
	tmp, out := newRef(w, h), newRef(w, h)
	for y := range h {
		for x := range w {
			for j, kw := range ker {
				for c := range 3 {
					tmp[y][x][c] += kw * m[y][refl(x+j-r, w)][c]
				}
			}
		}
	}
	for y := range h {
		for x := range w {
			for j, kw := range ker {
				for c := range 3 {
					out[y][x][c] += kw * tmp[refl(y+j-r, h)][x][c]
				}
			}
		}
	}
	return out
}

// refView renders one view from the image decoded at 1/denom of the source size.
func refView(src *decode.Image, denom int, v *viewParams, size int) []float32 {
	d := float64(denom)
	x0, y0 := float64(v.cx)/d, float64(v.cy)/d
	x1, y1 := float64(v.cx+v.cw)/d, float64(v.cy+v.ch)/d
	m := refResize(src, x0, y0, x1, y1, int(math.Floor(x0)), int(math.Floor(y0)),
		min(int(math.Ceil(x1)), src.W), min(int(math.Ceil(y1)), src.H), size, size)
	if v.flip {
		for _, row := range m {
			for i, j := 0, len(row)-1; i < j; i, j = i+1, j-1 {
				row[i], row[j] = row[j], row[i]
			}
		}
	}
	if v.jitter {
		for _, op := range v.order {
			switch op {
			case opBrightness:
				m.each(func(p [3]float64) [3]float64 { return blend(p, float64(v.bright), 0) })
			case opContrast:
				var mean float64
				for _, row := range m {
					for _, p := range row {
						mean += refLuma(p)
					}
				}
				mean /= float64(size * size)
				m.each(func(p [3]float64) [3]float64 { return blend(p, float64(v.contr), mean) })
			case opSaturation:
				m.each(func(p [3]float64) [3]float64 { return blend(p, float64(v.satur), refLuma(p)) })
			case opHue:
				m.each(func(p [3]float64) [3]float64 { return refHue(p, float64(v.hue)) })
			}
		}
	}
	if v.gray {
		m.each(func(p [3]float64) [3]float64 { l := refLuma(p); return [3]float64{l, l, l} })
	}
	if v.blur {
		m = refBlur(m, int(newBlurSize(size)), float64(v.sigma))
	}
	if v.solarize {
		m.each(func(p [3]float64) [3]float64 {
			for c := range p {
				if p[c] >= 128 {
					p[c] = 255 - p[c]
				}
			}
			return p
		})
	}
	out := make([]float32, 3*size*size)
	for y, row := range m {
		for x, p := range row {
			for c := range 3 {
				out[c*size*size+y*size+x] = float32((p[c]/255 - float64(Mean[c])) / float64(Std[c]))
			}
		}
	}
	return out
}

// meanAbs255 is the mean absolute difference of two normalised views on a 0–255 scale.
func meanAbs255(a, b []float32) float64 {
	n := len(a) / 3
	var sum float64
	for i := range a {
		sum += math.Abs(float64(a[i]-b[i])) * float64(Std[i/n]) * 255
	}
	return sum / float64(len(a))
}
