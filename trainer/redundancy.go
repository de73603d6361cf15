package trainer

import "math"

// The redundancy-reduction losses pair the two views of each image over the global batch: their
// statistics (VICReg's variance and covariance, Barlow Twins' batch normalisation and
// cross-correlation) are taken over every image of every replica, as the papers' code does
// with its gather across processes (VICReg's FullGatherLayer) or its synchronised batch norm
// and summed cross-correlation (Barlow Twins).

// vicregEps is VICReg's ε under the square root of the variance.
const vicregEps = 1e-4

// vicregLoss is VICReg's: sim·invariance + std·variance + cov·covariance of the two views'
// embeddings x and y (N × d): the mean squared difference, the mean over features of
// max(0, 1 − √(Var + ε)) halved per view, and the sum of squared off-diagonal covariances
// over d per view; variance and covariance unbiased (N − 1).
type vicregLoss struct {
	l             layout
	sim, std, cov float64
}

func (v *vicregLoss) loss(g, dg []float32) float64 {
	l := v.l
	n, d := l.images(), l.dOnline
	x, y := l.onlineView(g, 0), l.onlineView(g, 1)
	gx, gy := make([]float64, n*d), make([]float64, n*d)
	var repr float64
	for i := range x {
		diff := x[i] - y[i]
		repr += diff * diff
		gx[i] = v.sim * 2 * diff / float64(n*d)
		gy[i] = -gx[i]
	}
	repr /= float64(n * d)
	stdX, covX := v.spread(x, n, d, gx)
	stdY, covY := v.spread(y, n, d, gy)
	l.setOnlineGrad(dg, 0, gx)
	l.setOnlineGrad(dg, 1, gy)
	return v.sim*repr + v.std*(stdX+stdY) + v.cov*(covX+covY)
}

// spread returns one view's variance term (halved) and covariance term, and adds std times
// and cov times their gradients with respect to z to grad.
func (v *vicregLoss) spread(z []float64, n, d int, grad []float64) (stdTerm, covTerm float64) {
	zc := centre(z, n, d)
	cv := make([]float64, d*d) // zcᵀ zc / (N − 1)
	dgemm(true, false, d, d, n, 1/float64(n-1), zc, zc, 0, cv)
	// variance: d/dz_kj = −1/(2d) · [s_j < 1] · zc_kj / (s_j (N − 1))
	coef := make([]float64, d)
	for j := range d {
		s := math.Sqrt(cv[j*d+j] + vicregEps)
		if s < 1 {
			stdTerm += 1 - s
			coef[j] = -v.std / (2 * float64(d)) / (s * float64(n-1))
		}
	}
	stdTerm /= 2 * float64(d)
	for k := range n {
		for j := range d {
			grad[k*d+j] += coef[j] * zc[k*d+j]
		}
	}
	// covariance: dL/dC = (2/d) offdiag(C), symmetric; dL/dz = 2 zc (dL/dC) / (N − 1). The
	// centring adds nothing: the columns of zc sum to zero.
	for i := range d {
		for j := range d {
			if i == j {
				cv[i*d+j] = 0
				continue
			}
			covTerm += cv[i*d+j] * cv[i*d+j]
			cv[i*d+j] *= v.cov * 2 / float64(d) * 2 / float64(n-1)
		}
	}
	covTerm /= float64(d)
	dgemm(false, false, n, d, d, 1, zc, cv, 1, grad)
	return stdTerm, covTerm
}

// centre returns z (n × d) minus its column means.
func centre(z []float64, n, d int) []float64 {
	out := make([]float64, len(z))
	for j := range d {
		var m float64
		for k := range n {
			m += z[k*d+j]
		}
		m /= float64(n)
		for k := range n {
			out[k*d+j] = z[k*d+j] - m
		}
	}
	return out
}

// barlowEps is the ε of the batch norm Barlow Twins applies to the embeddings (PyTorch's).
const barlowEps = 1e-5

// barlowLoss is Barlow Twins': the cross-correlation c = bn(z1)ᵀ bn(z2) / N of the two views'
// embeddings, each normalised over the global batch (batch norm without affine, biased
// variance), and Σ_i (1 − c_ii)² + λ Σ_{i≠j} c_ij².
type barlowLoss struct {
	l      layout
	lambda float64
}

func (b *barlowLoss) loss(g, dg []float32) float64 {
	l := b.l
	n, d := l.images(), l.dOnline
	b1, is1 := batchNormRows(l.onlineView(g, 0), n, d)
	b2, is2 := batchNormRows(l.onlineView(g, 1), n, d)
	c := make([]float64, d*d)
	dgemm(true, false, d, d, n, 1/float64(n), b1, b2, 0, c)
	var loss float64
	for i := range d {
		for j := range d {
			x := c[i*d+j]
			if i == j {
				loss += (1 - x) * (1 - x)
				c[i*d+j] = -2 * (1 - x) / float64(n)
			} else {
				loss += b.lambda * x * x
				c[i*d+j] = 2 * b.lambda * x / float64(n)
			}
		}
	}
	// c now holds dL/dc / N: dL/db1 = b2 (dL/dc)ᵀ / N, dL/db2 = b1 (dL/dc) / N.
	g1, g2 := make([]float64, n*d), make([]float64, n*d)
	dgemm(false, true, n, d, d, 1, b2, c, 0, g1)
	dgemm(false, false, n, d, d, 1, b1, c, 0, g2)
	l.setOnlineGrad(dg, 0, batchNormBack(b1, is1, g1, n, d))
	l.setOnlineGrad(dg, 1, batchNormBack(b2, is2, g2, n, d))
	return loss
}

// batchNormRows normalises each column of z (n × d) by its mean and biased variance, and
// returns the result and each column's 1/√(var + ε).
func batchNormRows(z []float64, n, d int) ([]float64, []float64) {
	out := centre(z, n, d)
	istd := make([]float64, d)
	for j := range d {
		var ss float64
		for k := range n {
			ss += out[k*d+j] * out[k*d+j]
		}
		istd[j] = 1 / math.Sqrt(ss/float64(n)+barlowEps)
		for k := range n {
			out[k*d+j] *= istd[j]
		}
	}
	return out, istd
}

// batchNormBack is the gradient through batchNormRows: for each column,
// dz = istd (g − mean(g) − x̂ mean(g x̂)).
func batchNormBack(xh, istd, g []float64, n, d int) []float64 {
	out := make([]float64, n*d)
	for j := range d {
		var mg, mgx float64
		for k := range n {
			mg += g[k*d+j]
			mgx += g[k*d+j] * xh[k*d+j]
		}
		mg /= float64(n)
		mgx /= float64(n)
		for k := range n {
			out[k*d+j] = istd[j] * (g[k*d+j] - mg - xh[k*d+j]*mgx)
		}
	}
	return out
}
