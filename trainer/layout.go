package trainer

import "gonum.org/v1/gonum/blas"

// layout is how the gather's blocks hold one step's embeddings. Each replica contributes one
// block: its online rows, view by view (n images each, in batch order), then the target
// network's rows of the global views, view by view. The global batch is the blocks of every
// replica of the world in replica order, so image k of the global batch is image k mod n of
// replica k / n: the order the loader lays the global batch out in.
type layout struct {
	replicas, n      int // replicas of the world, images per replica
	views, global    int // views per image (every group), the first global of them global
	dOnline, dTarget int // embedding widths; dTarget is 0 without a target network
}

// onlineLen is the floats of a block's online rows.
func (l layout) onlineLen() int { return l.views * l.n * l.dOnline }

// block is the floats one replica contributes.
func (l layout) block() int { return l.onlineLen() + l.global*l.n*l.dTarget }

// images is the global batch.
func (l layout) images() int { return l.replicas * l.n }

// online is the offset of image k's view v in the global block.
func (l layout) online(k, v int) int {
	r, i := k/l.n, k%l.n
	return r*l.block() + (v*l.n+i)*l.dOnline
}

// target is the offset of the target network's row of image k's global view t.
func (l layout) target(k, t int) int {
	r, i := k/l.n, k%l.n
	return r*l.block() + l.onlineLen() + (t*l.n+i)*l.dTarget
}

// onlineView returns view v's online rows of every image of the global batch, N × dOnline.
func (l layout) onlineView(g []float32, v int) []float64 {
	out := make([]float64, l.images()*l.dOnline)
	for k := range l.images() {
		row := g[l.online(k, v):][:l.dOnline]
		for j, x := range row {
			out[k*l.dOnline+j] = float64(x)
		}
	}
	return out
}

// targetView returns the target rows of global view t of every image, N × dTarget.
func (l layout) targetView(g []float32, t int) []float64 {
	out := make([]float64, l.images()*l.dTarget)
	for k := range l.images() {
		row := g[l.target(k, t):][:l.dTarget]
		for j, x := range row {
			out[k*l.dTarget+j] = float64(x)
		}
	}
	return out
}

// setOnlineGrad writes the gradient of view v's online rows (N × dOnline) into dg.
func (l layout) setOnlineGrad(dg []float32, v int, grad []float64) {
	for k := range l.images() {
		row := dg[l.online(k, v):][:l.dOnline]
		for j := range row {
			row[j] = float32(grad[k*l.dOnline+j])
		}
	}
}

// dgemm is c = alpha·op(a)·op(b) + beta·c over row-major slices, op(x) = xᵀ when its flag is
// set, op(a) m × k and op(b) k × n, by lossBLAS.
func dgemm(ta, tb bool, m, n, k int, alpha float64, a, b []float64, beta float64, c []float64) {
	tA, tB, lda, ldb := blas.NoTrans, blas.NoTrans, k, n
	if ta {
		tA, lda = blas.Trans, m
	}
	if tb {
		tB, ldb = blas.Trans, k
	}
	lossBLAS.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, n)
}
