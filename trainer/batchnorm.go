package trainer

import "math"

// bnMode is what a batch-norm layer normalises with.
type bnMode int

const (
	bnTrain  bnMode = iota // the batch's statistics, updating the running ones
	bnEval                 // the running statistics
	bnAffine               // none: y = γx + β (a model without batch statistics, for tests)
)

// bnLayer is batch normalisation with its scale and shift over a channels-last activation
// (rows × c), optionally adding a residual and then applying ReLU, in one pass. Statistics
// are sums in float32 within chunks of rows (an image's plane) and float64 across them.
// The backward pass recomputes the normalised input from x, so that only the layer's input
// and output are kept.
type bnLayer struct {
	rows, c, chunk int
	relu           bool // ReLU after the sum
	residual       bool // forward adds a residual input before the ReLU
	mode           bnMode

	mean, vr     []float32 // running statistics
	bmean, istd  []float32 // what the last forward normalised with
	scale, shift []float32 // the last forward's map x·scale + shift
	k, mdy, mdyx []float32
	s1, s2       []float64
}

func newBNLayer(rows, c, chunk int, relu, residual bool, mode bnMode) *bnLayer {
	l := &bnLayer{rows: rows, c: c, chunk: chunk, relu: relu, residual: residual, mode: mode,
		mean: make([]float32, c), vr: make([]float32, c), bmean: make([]float32, c), istd: make([]float32, c),
		scale: make([]float32, c), shift: make([]float32, c), k: make([]float32, c),
		mdy: make([]float32, c), mdyx: make([]float32, c), s1: make([]float64, c), s2: make([]float64, c)}
	for i := range l.vr {
		l.vr[i] = 1
	}
	return l
}

// forward writes y from x (and res, the residual, when the layer has one).
func (l *bnLayer) forward(x, gamma, beta, res, y []float32) {
	m := float64(l.rows)
	switch l.mode {
	case bnAffine:
		clear(l.bmean)
		for c := range l.istd {
			l.istd[c] = 1
		}
	case bnEval:
		for c := range l.bmean {
			l.bmean[c] = l.mean[c]
			l.istd[c] = float32(1 / math.Sqrt(float64(l.vr[c])+bnEpsilon))
		}
	case bnTrain:
		clear(l.s1)
		clear(l.s2)
		chanSums(x, l.rows, l.c, l.chunk, nil, false, l.s1)
		for c, s := range l.s1 {
			l.bmean[c] = float32(s / m)
		}
		chanSums(x, l.rows, l.c, l.chunk, l.bmean, true, l.s2)
		for c, ss := range l.s2 {
			mu, vb := l.s1[c]/m, ss/m
			l.istd[c] = float32(1 / math.Sqrt(vb+bnEpsilon))
			unbiased := vb
			if m > 1 {
				unbiased = ss / (m - 1)
			}
			l.mean[c] = float32((1-bnMomentum)*float64(l.mean[c]) + bnMomentum*mu)
			l.vr[c] = float32((1-bnMomentum)*float64(l.vr[c]) + bnMomentum*unbiased)
		}
	}
	for c := range l.scale {
		l.scale[c] = gamma[c] * l.istd[c]
		l.shift[c] = beta[c] - l.bmean[c]*l.scale[c]
	}
	if !l.residual {
		res = nil
	}
	bnApply(x, y, res, l.rows, l.c, l.scale, l.shift, l.relu)
}

// backward writes dx (which may be dy) and the gradients of γ and β from dy. For a layer
// with a residual, dy must already be masked by the ReLU (reluMask with the layer's
// output); it is then also the residual's gradient.
func (l *bnLayer) backward(x, gamma, dy, dx, dgamma, dbeta []float32) {
	pre := l.relu && !l.residual // the mask comes from the pre-activation
	clear(l.s1)
	clear(l.s2)
	bnBackSums(x, dy, l.rows, l.c, l.chunk, l.bmean, l.istd, l.scale, l.shift, pre, l.s1, l.s2)
	m := float32(l.rows)
	for c := range l.k {
		dgamma[c], dbeta[c] = float32(l.s2[c]), float32(l.s1[c])
		l.k[c] = gamma[c] * l.istd[c]
		l.mdy[c], l.mdyx[c] = 0, 0
		if l.mode == bnTrain {
			l.mdy[c], l.mdyx[c] = float32(l.s1[c])/m, float32(l.s2[c])/m
		}
	}
	bnBackApply(x, dy, dx, l.rows, l.c, l.bmean, l.istd, l.scale, l.shift, l.k, l.mdy, l.mdyx, pre)
}
