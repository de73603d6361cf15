//go:build !cgo || noturbojpeg

package augment

// Kernels names the implementation of the pixel passes in this build.
const Kernels = "Go"

func (w *Worker) resample() { w.resampleGo() }

func colour(v *viewParams, px []float32, rowLen int) { colourGo(v, px, rowLen) }

func gaussianBlur(px, tmp []float32, w, h, r int, sigma float64) {
	gaussianBlurGo(px, tmp, w, h, r, sigma)
}

func normalise(px, dst []float32, n int, solarize bool) { normaliseGo(px, dst, n, solarize) }
