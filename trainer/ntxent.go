package trainer

import (
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// positives lists the rows that are positives of anchor row i, appended to buf.
type positives func(i int, buf []int) []int

// ntXent computes SimCLR's normalised-temperature cross-entropy over M embeddings z (M × d,
// row-major) and its gradient with respect to z (written to dz, same layout). Every row is an
// anchor, and pos(i) its positives (the other view of its image, or with multi-crop the global
// views of its image); the negatives of an anchor are all rows but itself. The loss is the mean
// over (anchor, positive) pairs of −log softmax: with two views, the mean over anchors. The
// arithmetic is in float64 so that the loss, the gradient check and the replica comparison do
// not depend on float32 summation order.
func ntXent(z []float32, m, d int, temp float64, pos positives, dz []float32) float64 {
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

	// a[i][k] = dL/ds[i][k] = (|P(i)| p[i][k] - [k ∈ P(i)]) / pairs for k ≠ i.
	var buf []int
	pairs := 0
	for i := 0; i < m; i++ {
		buf = pos(i, buf[:0])
		pairs += len(buf)
	}
	var loss float64
	inv := 1 / float64(pairs)
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
		buf = pos(i, buf[:0])
		var sp float64
		for _, p := range buf {
			sp += row[p]
		}
		loss += float64(len(buf))*lse - sp
		w := float64(len(buf)) / float64(pairs)
		for k, v := range row {
			if k == i {
				row[k] = 0
				continue
			}
			row[k] = math.Exp(v-lse) * w
		}
		for _, p := range buf {
			row[p] -= inv
		}
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

// replicaPairs is the pairing of the gathered global batch of two views: R blocks, one per
// replica, each holding its n first views then its n second views.
func replicaPairs(n int) positives {
	return func(i int, buf []int) []int {
		blk, j := i/(2*n), i%(2*n)
		if j < n {
			return append(buf, blk*2*n+j+n)
		}
		return append(buf, blk*2*n+j-n)
	}
}

// multiCropPositives pairs the rows of blocks of views × n rows (view-major): the positives of
// a view are the global views (the first global) of its image, itself left out. Local views are
// anchors against the global ones but never positives, as DINO pairs its crops.
func multiCropPositives(n, views, global int) positives {
	return func(i int, buf []int) []int {
		blk, j := i/(views*n), i%(views*n)
		v, img := j/n, j%n
		for t := range global {
			if t != v {
				buf = append(buf, blk*views*n+t*n+img)
			}
		}
		return buf
	}
}
