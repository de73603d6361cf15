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
	return min((int(k)-1)/2, int(math.Ceil(3*sigma)), maxPairs)
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

// gaussianBlurGo blurs the w×h interleaved RGB image px in place with a separable Gaussian of
// radius r, using tmp (len(px) + 6*(w+2r) floats) as scratch: a horizontal pass into tmp, a
// vertical pass back. Both passes run over whole rows, one kernel offset at a time, and add
// the two mirror-image taps before multiplying (the kernel is symmetric).
func gaussianBlurGo(px, tmp []float32, w, h, r int, sigma float64) {
	if r <= 0 {
		return
	}
	var kbuf [2*maxPairs + 1]float32
	var pairs [maxPairs][2][]float32
	k := gaussianKernel(r, sigma, kbuf[:0])[r:] // k[j] weighs offsets ±j
	stride := 3 * w
	img, pad := tmp[:len(px)], tmp[len(px):len(px)+3*(w+2*r)]
	for y := range h {
		in := px[y*stride : (y+1)*stride]
		out := img[y*stride : (y+1)*stride]
		// pad holds the row with r reflected pixels on each side: in[x] is pad[x+r].
		copy(pad[3*r:], in)
		for x := 1; x <= r; x++ {
			a, b := 3*reflect(-x, w), 3*reflect(w-1+x, w)
			copy(pad[3*(r-x):3*(r-x)+3], in[a:a+3])
			copy(pad[3*(r+w-1+x):3*(r+w-1+x)+3], in[b:b+3])
		}
		for j := 1; j <= r; j++ {
			pairs[j-1] = [2][]float32{pad[3*(r-j) : 3*(r-j)+stride], pad[3*(r+j) : 3*(r+j)+stride]}
		}
		symmetricSum(out, pad[3*r:3*r+stride], pairs[:r], k)
	}
	for y := range h {
		for j := 1; j <= r; j++ {
			pairs[j-1] = [2][]float32{img[reflect(y-j, h)*stride:][:stride], img[reflect(y+j, h)*stride:][:stride]}
		}
		symmetricSum(px[y*stride:(y+1)*stride], img[y*stride:(y+1)*stride], pairs[:r], k)
	}
}

// maxPairs bounds the blur radius the row kernels handle without allocating; larger radii
// (sigma above 10) are clamped by blurSize.radius.
const maxPairs = 32

// symmetricSum sets out[i] = k[0]*c[i] + sum over j of k[j]*(pairs[j-1][0][i] + pairs[j-1][1][i]),
// three offsets per pass over the row so that out is loaded and stored less often.
func symmetricSum(out, c []float32, pairs [][2][]float32, k []float32) {
	c = c[:len(out)]
	k0 := k[0]
	for i, v := range c {
		out[i] = k0 * v
	}
	for j := 0; j < len(pairs); {
		switch m := len(pairs) - j; {
		case m >= 3:
			a0, b0 := pairs[j][0][:len(out)], pairs[j][1][:len(out)]
			a1, b1 := pairs[j+1][0][:len(out)], pairs[j+1][1][:len(out)]
			a2, b2 := pairs[j+2][0][:len(out)], pairs[j+2][1][:len(out)]
			k0, k1, k2 := k[j+1], k[j+2], k[j+3]
			for i := range out {
				out[i] += k0*(a0[i]+b0[i]) + k1*(a1[i]+b1[i]) + k2*(a2[i]+b2[i])
			}
			j += 3
		case m == 2:
			a0, b0 := pairs[j][0][:len(out)], pairs[j][1][:len(out)]
			a1, b1 := pairs[j+1][0][:len(out)], pairs[j+1][1][:len(out)]
			k0, k1 := k[j+1], k[j+2]
			for i := range out {
				out[i] += k0*(a0[i]+b0[i]) + k1*(a1[i]+b1[i])
			}
			j += 2
		default:
			a0, b0 := pairs[j][0][:len(out)], pairs[j][1][:len(out)]
			k0 := k[j+1]
			for i := range out {
				out[i] += k0 * (a0[i] + b0[i])
			}
			j++
		}
	}
}
