package trainer

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// linearOp is y = x·w + b for x (N × I), w (I × O), b (O). Gorgonia's Mul and BroadcastAdd
// would do, but its matrix-product gradient picks a wrong preallocated shape when the batch
// equals a layer width (2n = proj_hidden), and the bias broadcast costs a pass of its own.
type linearOp struct {
	n, in, out int
	y          []float32
}

// linearGradOp is the gradient of a linearOp: wrt 0 is dx from (w, dy), 1 is dw from
// (x, dy), 2 is db from dy.
type linearGradOp struct {
	l   *linearOp
	wrt int
	buf []float32
}

var _ G.SDOp = (*linearOp)(nil)

func (op *linearOp) Arity() int    { return 3 }
func (op *linearOp) Type() hm.Type { return hm.NewFnType(t2(), t2(), t1(), t2()) }
func (op *linearOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.n, op.out}, nil
}
func (op *linearOp) ReturnsPtr() bool      { return false }
func (op *linearOp) CallsExtern() bool     { return false }
func (op *linearOp) OverwritesInput() int  { return -1 }
func (op *linearOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "linear-%p", op) }
func (op *linearOp) Hashcode() uint32      { return hashOf(op) }
func (op *linearOp) String() string        { return fmt.Sprintf("Linear(%d→%d)", op.in, op.out) }
func (op *linearOp) DiffWRT(int) []bool    { return []bool{true, true, true} }

func (op *linearOp) Do(vals ...G.Value) (G.Value, error) {
	x, w, b := vals[0].Data().([]float32), vals[1].Data().([]float32), vals[2].Data().([]float32)
	op.y = grow(op.y, op.n*op.out)
	for i := 0; i < op.n; i++ {
		copy(op.y[i*op.out:(i+1)*op.out], b)
	}
	G.WhichBLAS().Sgemm(blas.NoTrans, blas.NoTrans, op.n, op.out, op.in, 1, x, op.in, w, op.out, 1, op.y, op.out)
	return tensor.New(tensor.WithShape(op.n, op.out), tensor.WithBacking(op.y)), nil
}

func (op *linearOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&linearGradOp{l: op, wrt: 0}, inputs[1], grad)
	if err != nil {
		return nil, err
	}
	dw, err := G.ApplyOp(&linearGradOp{l: op, wrt: 1}, inputs[0], grad)
	if err != nil {
		return nil, err
	}
	db, err := G.ApplyOp(&linearGradOp{l: op, wrt: 2}, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dw, db}, nil
}

func (op *linearGradOp) Arity() int {
	if op.wrt == 2 {
		return 1
	}
	return 2
}
func (op *linearGradOp) Type() hm.Type {
	if op.wrt == 2 {
		return hm.NewFnType(t2(), t1())
	}
	return hm.NewFnType(t2(), t2(), t2())
}
func (op *linearGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	switch op.wrt {
	case 0:
		return tensor.Shape{op.l.n, op.l.in}, nil
	case 1:
		return tensor.Shape{op.l.in, op.l.out}, nil
	}
	return tensor.Shape{op.l.out}, nil
}
func (op *linearGradOp) ReturnsPtr() bool      { return false }
func (op *linearGradOp) CallsExtern() bool     { return false }
func (op *linearGradOp) OverwritesInput() int  { return -1 }
func (op *linearGradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "lineargrad-%p-%d", op.l, op.wrt) }
func (op *linearGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *linearGradOp) String() string        { return fmt.Sprintf("∂%v/∂%d", op.l, op.wrt) }

func (op *linearGradOp) Do(vals ...G.Value) (G.Value, error) {
	l := op.l
	bl := G.WhichBLAS()
	switch op.wrt {
	case 0: // dx = dy · wᵀ
		w, dy := vals[0].Data().([]float32), vals[1].Data().([]float32)
		op.buf = grow(op.buf, l.n*l.in)
		bl.Sgemm(blas.NoTrans, blas.Trans, l.n, l.in, l.out, 1, dy, l.out, w, l.out, 0, op.buf, l.in)
		return tensor.New(tensor.WithShape(l.n, l.in), tensor.WithBacking(op.buf)), nil
	case 1: // dw = xᵀ · dy
		x, dy := vals[0].Data().([]float32), vals[1].Data().([]float32)
		op.buf = grow(op.buf, l.in*l.out)
		bl.Sgemm(blas.Trans, blas.NoTrans, l.in, l.out, l.n, 1, x, l.in, dy, l.out, 0, op.buf, l.out)
		return tensor.New(tensor.WithShape(l.in, l.out), tensor.WithBacking(op.buf)), nil
	}
	dy := vals[0].Data().([]float32)
	op.buf = grow(op.buf, l.out)
	clear(op.buf)
	for i := 0; i < l.n; i++ {
		for j, v := range dy[i*l.out : (i+1)*l.out] {
			op.buf[j] += v
		}
	}
	return tensor.New(tensor.WithShape(l.out), tensor.WithBacking(op.buf)), nil
}
