package trainer

import (
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// ntXent computes SimCLR's normalised-temperature cross-entropy over M = 2N embeddings z
// (M × d, row-major) and its gradient with respect to z (written to dz, same layout).
// pair(i) gives the row holding the other view of row i's image. Every row is an anchor;
// its negatives are all rows but itself; the loss is the mean over anchors. The arithmetic is
// in float64 so that the loss, the gradient check and the replica comparison do not depend
// on float32 summation order.
func ntXent(z []float32, m, d int, temp float64, pair func(int) int, dz []float32) float64 {
	u := make([]float64, m*d)
	norms := make([]float64, m)
	for i := 0; i < m; i++ {
		var ss float64
		row := z[i*d : (i+1)*d]
		for _, v := range row {
			ss += float64(v) * float64(v)
		}
		n := math.Sqrt(ss)
		if n < 1e-12 {
			n = 1e-12
		}
		norms[i] = n
		for j, v := range row {
			u[i*d+j] = float64(v) / n
		}
	}
	// s = u uᵀ / τ, symmetric: one triangle, mirrored.
	s := make([]float64, m*m)
	um := blas64.General{Rows: m, Cols: d, Stride: d, Data: u}
	sm := blas64.General{Rows: m, Cols: m, Stride: m, Data: s}
	blas64.Syrk(blas.NoTrans, 1/temp, um, 0, blas64.Symmetric{N: m, Stride: m, Data: s, Uplo: blas.Upper})
	for i := 0; i < m; i++ {
		for k := 0; k < i; k++ {
			s[i*m+k] = s[k*m+i]
		}
	}

	// a[i][k] = dL/ds[i][k] = (p[i][k] - [k = pair(i)]) / M for k ≠ i.
	var loss float64
	inv := 1 / float64(m)
	for i := 0; i < m; i++ {
		row := s[i*m : (i+1)*m]
		mx := math.Inf(-1)
		for k, v := range row {
			if k != i && v > mx {
				mx = v
			}
		}
		var sum float64
		for k, v := range row {
			if k == i {
				continue
			}
			sum += math.Exp(v - mx)
		}
		lse := mx + math.Log(sum)
		p := pair(i)
		loss += lse - row[p]
		for k, v := range row {
			if k == i {
				row[k] = 0
				continue
			}
			row[k] = math.Exp(v-lse) * inv
		}
		row[p] -= inv
	}
	// dL/du = (A + Aᵀ) u / τ: the sum formed in place, then one product.
	for i := 0; i < m; i++ {
		for k := 0; k < i; k++ {
			v := s[i*m+k] + s[k*m+i]
			s[i*m+k], s[k*m+i] = v, v
		}
		s[i*m+i] *= 2
	}
	gu := make([]float64, m*d)
	gm := blas64.General{Rows: m, Cols: d, Stride: d, Data: gu}
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1/temp, sm, um, 0, gm)
	// through the normalisation: dz = (g - u (u·g)) / |z|
	for i := 0; i < m; i++ {
		ui := u[i*d : (i+1)*d]
		gi := gu[i*d : (i+1)*d]
		var dot float64
		for j := range ui {
			dot += ui[j] * gi[j]
		}
		for j := range ui {
			dz[i*d+j] = float32((gi[j] - ui[j]*dot) / norms[i])
		}
	}
	return loss * inv
}

// replicaPairs is the pairing of the gathered global batch: R blocks, one per replica, each
// holding its n first views then its n second views.
func replicaPairs(n int) func(int) int {
	return func(i int) int {
		blk, j := i/(2*n), i%(2*n)
		if j < n {
			return blk*2*n + j + n
		}
		return blk*2*n + j - n
	}
}
