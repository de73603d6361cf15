package trainer

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// linearOp is y = x·w + b for x (N × I), w (I × O), b (O). Gorgonia's Mul and BroadcastAdd
// would do, but its matrix-product gradient picks a wrong preallocated shape when the batch
// equals a layer width (2n = proj_hidden), and the bias broadcast costs a pass of its own.
type linearOp struct {
	be         backend
	n, in, out int
	y          mem
}

func newLinearOp(be backend, n, in, out int) *linearOp {
	return &linearOp{be: be, n: n, in: in, out: out, y: be.alloc(n * out)}
}

// linearGradOp is the gradient of a linearOp: wrt 0 is dx from (w, dy), 1 is dw from
// (x, dy), 2 is db from dy.
type linearGradOp struct {
	l   *linearOp
	wrt int
	buf mem
}

func newLinearGradOp(l *linearOp, wrt int) *linearGradOp {
	size := [3]int{l.n * l.in, l.in * l.out, l.out}[wrt]
	return &linearGradOp{l: l, wrt: wrt, buf: l.be.alloc(size)}
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
	be := op.be
	x, w, b := be.mem(vals[0]), be.mem(vals[1]), be.mem(vals[2])
	be.biasRows(op.y, b, op.n, op.out)
	be.gemm(false, false, op.n, op.out, op.in, x, op.in, w, op.out, 1, op.y, op.out)
	if err := be.err(); err != nil {
		return nil, fmt.Errorf("trainer: %v: %w", op, err)
	}
	return be.value(op.y, op.n, op.out), nil
}

func (op *linearOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(newLinearGradOp(op, 0), inputs[1], grad)
	if err != nil {
		return nil, err
	}
	dw, err := G.ApplyOp(newLinearGradOp(op, 1), inputs[0], grad)
	if err != nil {
		return nil, err
	}
	db, err := G.ApplyOp(newLinearGradOp(op, 2), grad)
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
	l, be := op.l, op.l.be
	var shape []int
	switch op.wrt {
	case 0: // dx = dy · wᵀ
		w, dy := be.mem(vals[0]), be.mem(vals[1])
		be.gemm(false, true, l.n, l.in, l.out, dy, l.out, w, l.out, 0, op.buf, l.in)
		shape = []int{l.n, l.in}
	case 1: // dw = xᵀ · dy
		x, dy := be.mem(vals[0]), be.mem(vals[1])
		be.gemm(true, false, l.in, l.out, l.n, x, l.in, dy, l.out, 0, op.buf, l.out)
		shape = []int{l.in, l.out}
	default:
		be.sumRows(be.mem(vals[0]), op.buf, l.n, l.out)
		shape = []int{l.out}
	}
	if err := be.err(); err != nil {
		return nil, fmt.Errorf("trainer: %v: %w", op, err)
	}
	return be.value(op.buf, shape...), nil
}
