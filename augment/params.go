package augment

import (
	"math"
	"math/rand/v2"
)

// Colour operations, in the order colour jitter applies them.
const (
	opBrightness = iota
	opContrast
	opSaturation
	opHue
)

// viewParams is everything random about one view, drawn before any pixel is touched.
type viewParams struct {
	size           int // output side in pixels
	cx, cy, cw, ch int // crop box in source pixels
	flip           bool
	jitter         bool
	order          [4]uint8 // colour jitter's random order of operations
	bright, contr  float32  // factors; 1 = unchanged
	satur, hue     float32  // saturation factor (1 = unchanged), hue shift in turns (0 = unchanged)
	gray           bool
	blur           bool
	sigma          float32
	solarize       bool
}

// sample draws the parameters of one view of the pipeline's size and crop scale.
func (p *Pipeline) sample(rng *rand.Rand, iw, ih int) viewParams {
	return p.sampleView(rng, iw, ih, ViewSpec{Size: p.size, Scale: p.cfg.CropScale})
}

// sampleView draws one view's parameters for a source of iw×ih pixels, in torchvision's
// order: crop, flip, jitter (order, then factors), grayscale, blur, solarize.
func (p *Pipeline) sampleView(rng *rand.Rand, iw, ih int, spec ViewSpec) viewParams {
	c := p.cfg
	v := viewParams{size: spec.Size}
	v.cx, v.cy, v.cw, v.ch = cropBox(rng, iw, ih, spec.Scale, c.CropRatio)
	v.flip = rng.Float64() < c.FlipP
	v.bright, v.contr, v.satur = 1, 1, 1
	if v.jitter = rng.Float64() < c.Jitter.P; v.jitter {
		v.order = [4]uint8{0, 1, 2, 3}
		for i := 3; i > 0; i-- { // Fisher–Yates
			j := rng.IntN(i + 1)
			v.order[i], v.order[j] = v.order[j], v.order[i]
		}
		v.bright = factor(rng, c.Jitter.Brightness)
		v.contr = factor(rng, c.Jitter.Contrast)
		v.satur = factor(rng, c.Jitter.Saturation)
		if h := c.Jitter.Hue; h > 0 {
			v.hue = float32(uniform(rng, -h, h))
		}
	}
	v.gray = rng.Float64() < c.GrayscaleP
	if v.blur = rng.Float64() < c.Blur.P; v.blur {
		v.sigma = float32(uniform(rng, c.Blur.Sigma[0], c.Blur.Sigma[1]))
	}
	v.solarize = rng.Float64() < c.SolarizeP
	return v
}

// factor draws a jitter factor from [max(0, 1-s), 1+s]; strength 0 draws nothing.
func factor(rng *rand.Rand, s float64) float32 {
	if s == 0 {
		return 1
	}
	return float32(uniform(rng, max(0, 1-s), 1+s))
}

func uniform(rng *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }

// cropBox is torchvision's RandomResizedCrop.get_params: up to ten tries at a box of random
// area and log-uniform aspect ratio that fits, else the largest centred box whose ratio is
// clamped into the range.
func cropBox(rng *rand.Rand, iw, ih int, scale, ratio [2]float64) (x, y, w, h int) {
	area := float64(iw * ih)
	lr0, lr1 := math.Log(ratio[0]), math.Log(ratio[1])
	for range 10 {
		target := area * uniform(rng, scale[0], scale[1])
		ar := math.Exp(uniform(rng, lr0, lr1))
		w := int(math.RoundToEven(math.Sqrt(target * ar)))
		h := int(math.RoundToEven(math.Sqrt(target / ar)))
		if 0 < w && w <= iw && 0 < h && h <= ih {
			y := rng.IntN(ih - h + 1)
			x := rng.IntN(iw - w + 1)
			return x, y, w, h
		}
	}
	in := float64(iw) / float64(ih)
	switch {
	case in < ratio[0]:
		w = iw
		h = int(math.RoundToEven(float64(w) / ratio[0]))
	case in > ratio[1]:
		h = ih
		w = int(math.RoundToEven(float64(h) * ratio[1]))
	default:
		w, h = iw, ih
	}
	w, h = max(1, min(w, iw)), max(1, min(h, ih))
	return (iw - w) / 2, (ih - h) / 2, w, h
}
