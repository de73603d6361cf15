package trainer

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// convOp is a 2-d convolution without bias (batch norm follows every conv), NCHW in and out.
// It replaces Gorgonia's Conv2d, which spends most of a step outside BLAS: it lays the
// im2col matrix out image-major and then transposes the result of every conv. Here the
// im2col matrix is channel-major (C·k·k × N·OH·OW), so one sgemm gives the output channel by
// channel, and a block copy puts it in NCHW. The matrix is kept for the weight gradient.
type convOp struct {
	n, c, h, w int
	o, k, s, p int
	oh, ow     int
	firstLayer bool // the input is data: no input gradient
	col        []float32
	out2, out  []float32
	sc         *convScratch
}

// convScratch holds the buffers that a graph's convolutions use only within one op, and so
// can share: ops of one tape machine run one at a time.
type convScratch struct {
	dy2, dcol []float32
}

var (
	_ G.Op   = (*convOp)(nil)
	_ G.SDOp = (*convOp)(nil)
)

func newConvOp(xShape tensor.Shape, out, k, stride, pad int, first bool, sc *convScratch) *convOp {
	op := &convOp{n: xShape[0], c: xShape[1], h: xShape[2], w: xShape[3], o: out, k: k, s: stride, p: pad, firstLayer: first, sc: sc}
	op.oh = (op.h+2*pad-k)/stride + 1
	op.ow = (op.w+2*pad-k)/stride + 1
	return op
}

func (op *convOp) colRows() int { return op.c * op.k * op.k }
func (op *convOp) colCols() int { return op.n * op.oh * op.ow }

func (op *convOp) Arity() int    { return 2 }
func (op *convOp) Type() hm.Type { return hm.NewFnType(t4(), t4(), t4()) }
func (op *convOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.n, op.o, op.oh, op.ow}, nil
}
func (op *convOp) ReturnsPtr() bool      { return false }
func (op *convOp) CallsExtern() bool     { return false }
func (op *convOp) OverwritesInput() int  { return -1 }
func (op *convOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "conv-%p", op) }
func (op *convOp) Hashcode() uint32      { return hashOf(op) }
func (op *convOp) String() string {
	return fmt.Sprintf("Conv%dx%d/%d(%d→%d)", op.k, op.k, op.s, op.c, op.o)
}
func (op *convOp) DiffWRT(int) []bool { return []bool{!op.firstLayer, true} }

func (op *convOp) Do(vals ...G.Value) (G.Value, error) {
	x := vals[0].Data().([]float32)
	w := vals[1].Data().([]float32)
	rows, cols := op.colRows(), op.colCols()
	op.col = grow(op.col, rows*cols)
	op.im2col(x)
	op.out2 = grow(op.out2, op.o*cols)
	G.WhichBLAS().Sgemm(blas.NoTrans, blas.NoTrans, op.o, cols, rows, 1, w, rows, op.col, cols, 0, op.out2, cols)
	op.out = grow(op.out, op.o*cols)
	hw := op.oh * op.ow
	for o := 0; o < op.o; o++ {
		for n := 0; n < op.n; n++ {
			copy(op.out[(n*op.o+o)*hw:(n*op.o+o+1)*hw], op.out2[o*cols+n*hw:o*cols+(n+1)*hw])
		}
	}
	return tensor.New(tensor.WithShape(op.n, op.o, op.oh, op.ow), tensor.WithBacking(op.out)), nil
}

// im2col fills op.col: row (c, ki, kj), column (n, oy, ox).
func (op *convOp) im2col(x []float32) {
	cols, hw := op.colCols(), op.oh*op.ow
	for c := 0; c < op.c; c++ {
		for ki := 0; ki < op.k; ki++ {
			for kj := 0; kj < op.k; kj++ {
				row := op.col[((c*op.k+ki)*op.k+kj)*cols:][:cols]
				for n := 0; n < op.n; n++ {
					img := x[(n*op.c+c)*op.h*op.w:][:op.h*op.w]
					dst := row[n*hw:][:hw]
					for oy := 0; oy < op.oh; oy++ {
						iy := oy*op.s - op.p + ki
						d := dst[oy*op.ow:][:op.ow]
						if iy < 0 || iy >= op.h {
							clear(d)
							continue
						}
						src := img[iy*op.w:][:op.w]
						if op.s == 1 {
							op.rowS1(d, src, kj)
							continue
						}
						lo, hi := op.validX(kj)
						clear(d[:lo])
						for ox := lo; ox < hi; ox++ {
							d[ox] = src[ox*op.s-op.p+kj]
						}
						clear(d[hi:])
					}
				}
			}
		}
	}
}

// validX is the range [lo, hi) of output columns whose input column ox·s − p + kj lies
// inside the image.
func (op *convOp) validX(kj int) (lo, hi int) {
	off := kj - op.p
	if off < 0 {
		lo = (-off + op.s - 1) / op.s
	}
	hi = (op.w-1-off)/op.s + 1
	if op.w-1-off < 0 {
		hi = 0
	}
	hi = min(hi, op.ow)
	return lo, max(hi, lo)
}

// rowS1 is one output row of im2col at stride 1: a shifted copy with zero edges.
func (op *convOp) rowS1(d, src []float32, kj int) {
	off := kj - op.p
	lo, hi := 0, len(d)
	if off < 0 {
		lo = -off
	}
	if hi+off > len(src) {
		hi = len(src) - off
	}
	clear(d[:lo])
	if hi > lo {
		copy(d[lo:hi], src[lo+off:hi+off])
	} else {
		hi = lo
	}
	clear(d[hi:])
}

// col2im accumulates a column-matrix gradient into dx (which it zeroes first).
func (op *convOp) col2im(dcol, dx []float32) {
	clear(dx)
	cols, hw := op.colCols(), op.oh*op.ow
	for c := 0; c < op.c; c++ {
		for ki := 0; ki < op.k; ki++ {
			for kj := 0; kj < op.k; kj++ {
				row := dcol[((c*op.k+ki)*op.k+kj)*cols:][:cols]
				for n := 0; n < op.n; n++ {
					img := dx[(n*op.c+c)*op.h*op.w:][:op.h*op.w]
					src := row[n*hw:][:hw]
					for oy := 0; oy < op.oh; oy++ {
						iy := oy*op.s - op.p + ki
						if iy < 0 || iy >= op.h {
							continue
						}
						d := img[iy*op.w:][:op.w]
						s := src[oy*op.ow:][:op.ow]
						lo, hi := op.validX(kj)
						if op.s == 1 {
							dd := d[lo+kj-op.p : hi+kj-op.p]
							for i, v := range s[lo:hi] {
								dd[i] += v
							}
							continue
						}
						for ox := lo; ox < hi; ox++ {
							d[ox*op.s-op.p+kj] += s[ox]
						}
					}
				}
			}
		}
	}
}

// dyMatrix lays the output gradient out channel-major (O × N·OH·OW), as the forward sgemm made it.
func (op *convOp) dyMatrix(dy []float32) []float32 {
	cols, hw := op.colCols(), op.oh*op.ow
	op.sc.dy2 = grow(op.sc.dy2, op.o*cols)
	d := op.sc.dy2
	for n := 0; n < op.n; n++ {
		for o := 0; o < op.o; o++ {
			copy(d[o*cols+n*hw:][:hw], dy[(n*op.o+o)*hw:][:hw])
		}
	}
	return d
}

func (op *convOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dw, err := G.ApplyOp(&convGradOp{conv: op, wrtW: true}, inputs[1], grad)
	if err != nil {
		return nil, err
	}
	if op.firstLayer {
		return G.Nodes{nil, dw}, nil
	}
	dx, err := G.ApplyOp(&convGradOp{conv: op}, inputs[1], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dw}, nil
}

// convGradOp is the gradient of a convOp with respect to its input (wrtW false) or its
// weights, from (w, dy). It reads the im2col matrix the forward pass kept.
type convGradOp struct {
	conv *convOp
	wrtW bool
	dw   []float32
	dx   []float32
}

func (op *convGradOp) Arity() int    { return 2 }
func (op *convGradOp) Type() hm.Type { return hm.NewFnType(t4(), t4(), t4()) }
func (op *convGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	c := op.conv
	if op.wrtW {
		return tensor.Shape{c.o, c.c, c.k, c.k}, nil
	}
	return tensor.Shape{c.n, c.c, c.h, c.w}, nil
}
func (op *convGradOp) ReturnsPtr() bool      { return false }
func (op *convGradOp) CallsExtern() bool     { return false }
func (op *convGradOp) OverwritesInput() int  { return -1 }
func (op *convGradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "convgrad-%p-%v", op.conv, op.wrtW) }
func (op *convGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *convGradOp) String() string        { return fmt.Sprintf("∂%v/∂(w=%v)", op.conv, op.wrtW) }

func (op *convGradOp) Do(vals ...G.Value) (G.Value, error) {
	c := op.conv
	w := vals[0].Data().([]float32)
	d := c.dyMatrix(vals[1].Data().([]float32))
	rows, cols := c.colRows(), c.colCols()
	if op.wrtW {
		op.dw = grow(op.dw, c.o*rows)
		dw := op.dw
		G.WhichBLAS().Sgemm(blas.NoTrans, blas.Trans, c.o, rows, cols, 1, d, cols, c.col, cols, 0, dw, rows)
		return tensor.New(tensor.WithShape(c.o, c.c, c.k, c.k), tensor.WithBacking(dw)), nil
	}
	c.sc.dcol = grow(c.sc.dcol, rows*cols)
	dcol := c.sc.dcol
	G.WhichBLAS().Sgemm(blas.Trans, blas.NoTrans, rows, cols, c.o, 1, w, rows, d, cols, 0, dcol, cols)
	op.dx = grow(op.dx, c.n*c.c*c.h*c.w)
	dx := op.dx
	c.col2im(dcol, dx)
	return tensor.New(tensor.WithShape(c.n, c.c, c.h, c.w), tensor.WithBacking(dx)), nil
}
