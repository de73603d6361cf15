package trainer

import (
	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
)

// convAlgo is how a convolution becomes matrix products.
type convAlgo int

const (
	// convIm2col copies the pixels under each output pixel into a row of a column matrix
	// (a block of rows at a time, so that it stays in cache) and multiplies by the weights.
	convIm2col convAlgo = iota
	// convPointwise is a 1×1 stride-1 convolution: the activation is the column matrix.
	convPointwise
	// convWinograd is F(4×4, 3×3) for 3×3 stride-1 pad-1 convolutions (winograd.go).
	convWinograd
)

// winoMinChannels is the narrowest input for which Winograd beats im2col: below it the 36
// products are too thin to run near the BLAS's peak.
const winoMinChannels = 16

// blockFloats bounds the column or transform buffer of one block of a convolution, so that
// it is written and read back while still in cache (a core's L2), unless that leaves fewer
// than minBlockRows rows (tiles) for the matrix products, which then run far from peak.
const (
	blockFloats  = 1 << 19
	minBlockRows = 128
)

// convLayer is one convolution without bias over channels-last activations: y (N·OH·OW × O)
// from x (N·H·W × C) and weights w (O × C × k × k, PyTorch's layout).
type convLayer struct {
	g       convGeom
	algo    convAlgo
	noDX    bool // the input is data: no input gradient
	block   int  // floats in one block's buffer (blockFloats; less in tests, to cross block edges)
	minRows int  // minBlockRows
	sc      *convScratch
	// u holds the Winograd-transformed weights when the layer's owner computes them once
	// for several passes (winoShare); nil: each pass computes them into its scratch.
	u []float32
}

// convScratch holds the buffers a replica's convolutions use only within one call, and so
// share: a replica runs one layer at a time.
type convScratch struct {
	col, dcol, wk, dwk []float32 // im2col: a block of the column matrix and its gradient, weights (K × O)
	u, du, v, m        []float32 // Winograd: transformed weights, a block of transformed input and products
	wt                 []float32 // Winograd: kernels of a few input channels, transposed
}

func newConvLayer(g convGeom, noDX, winograd bool, sc *convScratch) *convLayer {
	l := &convLayer{g: g, noDX: noDX, block: blockFloats, minRows: minBlockRows, sc: sc}
	switch {
	case g.k == 1 && g.s == 1 && g.p == 0:
		l.algo = convPointwise
	case winograd && g.k == 3 && g.s == 1 && g.p == 1 && g.c >= winoMinChannels:
		l.algo = convWinograd
	}
	return l
}

// flops is twice the multiply-adds of the direct method, forward and backward: the figure
// natssl bench train divides by the step time, whatever the algorithm.
func (l *convLayer) flops() float64 {
	fwd := 2 * float64(l.g.outPixels()*l.g.o) * float64(l.g.colWidth())
	if l.noDX {
		return 2 * fwd
	}
	return 3 * fwd
}

// blockRows is how many output rows (im2col) or tiles (Winograd) one block holds: blocks
// of about equal size.
func (l *convLayer) blockRows() int {
	total, per := l.g.outPixels(), l.g.colWidth()
	if l.algo == convWinograd {
		total, per = winoTiles(l.g.n, l.g.h, l.g.w), 36*max(l.g.c, l.g.o)
	}
	rows := max(l.block/per, l.minRows)
	blocks := (total + rows - 1) / rows
	return (total + blocks - 1) / blocks
}

func (l *convLayer) forward(x, w, y []float32) {
	if l.algo == convWinograd {
		l.winoForward(x, w, y)
		return
	}
	g, sc, bl := l.g, l.sc, G.WhichBLAS()
	kc := g.colWidth()
	sc.wk = grow(sc.wk, kc*g.o)
	weightsKCO(w, sc.wk, g)
	rows, step := g.outPixels(), l.blockRows()
	if l.algo == convPointwise {
		step = rows
	}
	for r0 := 0; r0 < rows; r0 += step {
		nr := min(step, rows-r0)
		col := l.columns(x, r0, nr)
		bl.Sgemm(blas.NoTrans, blas.NoTrans, nr, g.o, kc, 1, col, kc, sc.wk, g.o, 0, y[r0*g.o:], g.o)
	}
}

// columns returns rows r0 … r0+nr−1 of the column matrix of x: x itself for a pointwise
// convolution, else the block buffer filled by im2col.
func (l *convLayer) columns(x []float32, r0, nr int) []float32 {
	g := l.g
	if l.algo == convPointwise {
		return x[r0*g.c:]
	}
	l.sc.col = grow(l.sc.col, nr*g.colWidth())
	if g.k == 1 && g.p == 0 {
		subsample(x, l.sc.col, g, r0, nr)
	} else {
		im2col(x, l.sc.col, g, r0, nr)
	}
	return l.sc.col
}

// backward writes the weight gradient dw and, unless noDX, adds the input gradient to dx.
func (l *convLayer) backward(x, w, dy, dx, dw []float32) {
	if l.algo == convWinograd {
		l.winoBackward(x, w, dy, dx, dw)
		return
	}
	g, sc, bl := l.g, l.sc, G.WhichBLAS()
	kc := g.colWidth()
	sc.wk = grow(sc.wk, kc*g.o)
	sc.dwk = grow(sc.dwk, kc*g.o)
	weightsKCO(w, sc.wk, g)
	rows, step := g.outPixels(), l.blockRows()
	if l.algo == convPointwise {
		step = rows
	}
	for r0 := 0; r0 < rows; r0 += step {
		nr := min(step, rows-r0)
		col := l.columns(x, r0, nr)
		d := dy[r0*g.o:]
		beta := float32(1)
		if r0 == 0 {
			beta = 0
		}
		bl.Sgemm(blas.Trans, blas.NoTrans, kc, g.o, nr, 1, col, kc, d, g.o, beta, sc.dwk, g.o)
		if l.noDX {
			continue
		}
		if l.algo == convPointwise {
			bl.Sgemm(blas.NoTrans, blas.Trans, nr, kc, g.o, 1, d, g.o, sc.wk, g.o, 1, dx[r0*g.c:], kc)
			continue
		}
		sc.dcol = grow(sc.dcol, nr*kc)
		bl.Sgemm(blas.NoTrans, blas.Trans, nr, kc, g.o, 1, d, g.o, sc.wk, g.o, 0, sc.dcol, kc)
		if g.k == 1 && g.p == 0 {
			subsampleBack(sc.dcol, dx, g, r0, nr)
		} else {
			col2im(sc.dcol, dx, g, r0, nr)
		}
	}
	weightsKCOBack(sc.dwk, dw, g)
}

// winoU returns the transformed weights of w.
func (l *convLayer) winoU(w []float32) []float32 {
	if l.u != nil {
		return l.u
	}
	g, sc := l.g, l.sc
	sc.u = grow(sc.u, 36*g.c*g.o)
	sc.wt = grow(sc.wt, winoWeightsScratch(g.o))
	winoWeights(w, sc.u, sc.wt, g.o, g.c)
	return sc.u
}

func (l *convLayer) winoForward(x, w, y []float32) {
	g, sc, bl := l.g, l.sc, G.WhichBLAS()
	u := l.winoU(w)
	tiles, step := winoTiles(g.n, g.h, g.w), l.blockRows()
	sc.v = grow(sc.v, 36*min(step, tiles)*g.c)
	sc.m = grow(sc.m, 36*min(step, tiles)*g.o)
	for t0 := 0; t0 < tiles; t0 += step {
		tb := min(step, tiles-t0)
		winoInput(x, sc.v, g.h, g.w, g.c, t0, tb)
		for xi := 0; xi < 36; xi++ {
			bl.Sgemm(blas.NoTrans, blas.NoTrans, tb, g.o, g.c, 1, sc.v[xi*tb*g.c:], g.c,
				u[xi*g.c*g.o:], g.o, 0, sc.m[xi*tb*g.o:], g.o)
		}
		winoOutput(sc.m, y, g.h, g.w, g.o, t0, tb)
	}
}

func (l *convLayer) winoBackward(x, w, dy, dx, dw []float32) {
	g, sc, bl := l.g, l.sc, G.WhichBLAS()
	u := l.winoU(w)
	sc.du = grow(sc.du, 36*g.c*g.o)
	sc.wt = grow(sc.wt, winoWeightsScratch(g.o))
	tiles, step := winoTiles(g.n, g.h, g.w), l.blockRows()
	sc.v = grow(sc.v, 36*min(step, tiles)*g.c)
	sc.m = grow(sc.m, 36*min(step, tiles)*g.o)
	for t0 := 0; t0 < tiles; t0 += step {
		tb := min(step, tiles-t0)
		winoInput(x, sc.v, g.h, g.w, g.c, t0, tb)
		winoOutputBack(dy, sc.m, g.h, g.w, g.o, t0, tb)
		beta := float32(1)
		if t0 == 0 {
			beta = 0
		}
		for xi := 0; xi < 36; xi++ {
			v, m, u := sc.v[xi*tb*g.c:], sc.m[xi*tb*g.o:], u[xi*g.c*g.o:]
			bl.Sgemm(blas.Trans, blas.NoTrans, g.c, g.o, tb, 1, v, g.c, m, g.o, beta, sc.du[xi*g.c*g.o:], g.o)
			if !l.noDX { // dV overwrites V, which this position no longer needs
				bl.Sgemm(blas.NoTrans, blas.Trans, tb, g.c, g.o, 1, m, g.o, u, g.o, 0, v, g.c)
			}
		}
		if !l.noDX {
			winoInputBack(sc.v, dx, g.h, g.w, g.c, t0, tb)
		}
	}
	winoWeightsBack(sc.du, dw, sc.wt, g.o, g.c)
}
