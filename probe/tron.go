package probe

import (
	"math"

	"gonum.org/v1/gonum/floats"
)

// objective is a twice-differentiable function of the weights, as liblinear's TRON sees it.
// grad uses the state left by the last fun call and hv the state left by the last grad call, as
// in liblinear: a rejected trial point is evaluated by fun only, and does not disturb hv.
type objective interface {
	dim() int
	fun(w []float64) float64
	grad(w, g []float64)
	hv(s, hs []float64)
}

// tron minimises obj from w = 0 with the trust-region Newton method of liblinear (Lin, Weng and
// Keerthi 2008) exactly as scikit-learn's vendored liblinear runs it: conjugate gradient inner
// iterations to 0.1 of the gradient norm, the same trust-region updates, and the stop rule
// ||g|| <= eps*||g0||. It returns the number of outer iterations; scikit-learn warns that
// liblinear failed to converge when that reaches maxIter.
func tron(obj objective, w []float64, eps float64, maxIter int) (iters int) {
	const (
		eta0, eta1, eta2       = 1e-4, 0.25, 0.75
		sigma1, sigma2, sigma3 = 0.25, 0.5, 4.0
	)
	n := obj.dim()
	s := make([]float64, n)
	r := make([]float64, n)
	wNew := make([]float64, n)
	g := make([]float64, n)
	cg := newCGScratch(n)
	for i := range w {
		w[i] = 0
	}
	f := obj.fun(w)
	obj.grad(w, g)
	delta := nrm2(g)
	gnorm1 := delta
	gnorm := gnorm1
	search := gnorm > eps*gnorm1
	iter := 1
	for iter <= maxIter && search {
		cg.trcg(obj, delta, g, s, r)
		copy(wNew, w)
		floats.Add(wNew, s)
		gs := floats.Dot(g, s)
		prered := -0.5 * (gs - floats.Dot(s, r))
		fnew := obj.fun(wNew)
		actred := f - fnew
		snorm := nrm2(s)
		if iter == 1 {
			delta = math.Min(delta, snorm)
		}
		var alpha float64
		if fnew-f-gs <= 0 {
			alpha = sigma3
		} else {
			alpha = math.Max(sigma1, -0.5*(gs/(fnew-f-gs)))
		}
		switch {
		case actred < eta0*prered:
			delta = math.Min(math.Max(alpha, sigma1)*snorm, sigma2*delta)
		case actred < eta1*prered:
			delta = math.Max(sigma1*delta, math.Min(alpha*snorm, sigma2*delta))
		case actred < eta2*prered:
			delta = math.Max(sigma1*delta, math.Min(alpha*snorm, sigma3*delta))
		default:
			delta = math.Max(delta, math.Min(alpha*snorm, sigma3*delta))
		}
		if actred > eta0*prered {
			iter++
			copy(w, wNew)
			f = fnew
			obj.grad(w, g)
			gnorm = nrm2(g)
			if gnorm <= eps*gnorm1 {
				break
			}
		}
		if f < -1.0e+32 {
			break
		}
		if math.Abs(actred) <= 0 && prered <= 0 {
			break
		}
		if math.Abs(actred) <= 1.0e-12*math.Abs(f) && math.Abs(prered) <= 1.0e-12*math.Abs(f) {
			break
		}
	}
	return iter - 1
}

// cgScratch holds the conjugate-gradient work vectors of one solve.
type cgScratch struct{ d, hd []float64 }

func newCGScratch(n int) *cgScratch {
	return &cgScratch{d: make([]float64, n), hd: make([]float64, n)}
}

// trcg approximately solves H s = -g inside the trust region ||s|| <= delta; r is left as the
// residual -g - H s, as liblinear's TRON::trcg leaves it.
func (c *cgScratch) trcg(obj objective, delta float64, g, s, r []float64) int {
	d, hd := c.d, c.hd
	for i := range s {
		s[i] = 0
		r[i] = -g[i]
		d[i] = r[i]
	}
	cgtol := 0.1 * nrm2(g)
	iters := 0
	rTr := floats.Dot(r, r)
	for {
		if nrm2(r) <= cgtol {
			break
		}
		iters++
		obj.hv(d, hd)
		alpha := rTr / floats.Dot(d, hd)
		floats.AddScaled(s, alpha, d)
		if nrm2(s) > delta {
			// Step back and move to the trust-region boundary along d.
			floats.AddScaled(s, -alpha, d)
			std := floats.Dot(s, d)
			sts := floats.Dot(s, s)
			dtd := floats.Dot(d, d)
			dsq := delta * delta
			rad := math.Sqrt(std*std + dtd*(dsq-sts))
			if std >= 0 {
				alpha = (dsq - sts) / (std + rad)
			} else {
				alpha = (rad - std) / dtd
			}
			floats.AddScaled(s, alpha, d)
			floats.AddScaled(r, -alpha, hd)
			break
		}
		floats.AddScaled(r, -alpha, hd)
		rnewTrnew := floats.Dot(r, r)
		beta := rnewTrnew / rTr
		floats.Scale(beta, d)
		floats.Add(d, r)
		rTr = rnewTrnew
	}
	return iters
}

// nrm2 is the Euclidean norm, computed with scaling like the reference BLAS dnrm2 so that
// large and tiny gradients behave as in liblinear.
func nrm2(x []float64) float64 {
	scale, ssq := 0.0, 1.0
	for _, v := range x {
		if v == 0 {
			continue
		}
		a := math.Abs(v)
		if scale < a {
			ssq = 1 + ssq*(scale/a)*(scale/a)
			scale = a
		} else {
			ssq += (a / scale) * (a / scale)
		}
	}
	return scale * math.Sqrt(ssq)
}
