package augment

import "math"

// blurSize is torchvision's Gaussian kernel size for a view side: about 10% of it, odd.
type blurSize int

func newBlurSize(side int) blurSize {
	k := int(0.1 * float64(side))
	if k%2 == 0 {
		k++
	}
	return blurSize(k)
}

// radius is the kernel's half-width for sigma: the configured kernel, truncated at 3σ, where
// the Gaussian has fallen below 1.1% of its peak.
func (k blurSize) radius(sigma float64) int {
	return min((int(k)-1)/2, int(math.Ceil(3*sigma)))
}

// gaussianKernel returns the normalised weights for offsets -r..r.
func gaussianKernel(r int, sigma float64, dst []float32) []float32 {
	dst = grow(dst, 2*r+1)
	var sum float64
	for i := -r; i <= r; i++ {
		v := math.Exp(-0.5 * float64(i*i) / (sigma * sigma))
		dst[i+r] = float32(v)
		sum += v
	}
	for i := range dst {
		dst[i] = float32(float64(dst[i]) / sum)
	}
	return dst
}

// reflect maps an index outside [0, n) back inside by mirroring about the edge pixels
// (torch's "reflect" padding: -1 → 1).
func reflect(i, n int) int {
	if n == 1 {
		return 0
	}
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

// gaussianBlur blurs the w×h interleaved RGB image px in place with a separable Gaussian of
// radius r, using tmp (len(px) floats) as scratch: horizontal pass into tmp, vertical back.
func gaussianBlur(px, tmp []float32, w, h, r int, sigma float64) {
	if r <= 0 {
		return
	}
	var kbuf [64]float32
	k := gaussianKernel(r, sigma, kbuf[:0])
	stride := 3 * w
	for y := range h {
		in := px[y*stride : (y+1)*stride]
		out := tmp[y*stride : (y+1)*stride]
		for x := range w {
			var s0, s1, s2 float32
			if x >= r && x+r < w {
				s := in[3*(x-r):]
				for j, wt := range k {
					s0 += wt * s[3*j]
					s1 += wt * s[3*j+1]
					s2 += wt * s[3*j+2]
				}
			} else {
				for j, wt := range k {
					o := 3 * reflect(x+j-r, w)
					s0 += wt * in[o]
					s1 += wt * in[o+1]
					s2 += wt * in[o+2]
				}
			}
			out[3*x], out[3*x+1], out[3*x+2] = s0, s1, s2
		}
	}
	for y := range h {
		out := px[y*stride : (y+1)*stride]
		clear(out)
		for j, wt := range k {
			in := tmp[reflect(y+j-r, h)*stride:][:stride]
			for i, v := range in {
				out[i] += wt * v
			}
		}
	}
}
