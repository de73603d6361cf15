package trainer

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// bnOp is the head's batch norm (with ReLU) as a Gorgonia op: inputs (x, γ, β), x of shape
// (N, C), γ and β of shape (C). Gorgonia's BatchNorm needs two more broadcast ops for γ and
// β, zeroes its running statistics on SetTraining(true), and loops slowly.
type bnOp struct {
	be  backend
	l   *bnLayer
	out mem
}

var (
	_ G.Op   = (*bnOp)(nil)
	_ G.SDOp = (*bnOp)(nil)
)

// bn1d adds batch norm over the rows of a 2-d node, followed by ReLU when relu is set.
func (b *builder) bn1d(x *G.Node, name string, relu bool) *G.Node {
	s := x.Shape()
	c := s[1]
	scale := b.param(name+".gamma", kindBNScale, c, c)
	shift := b.param(name+".beta", kindBNShift, c, c)
	op := &bnOp{be: b.be, l: b.newBN(name, s[0], c, 1, relu, false), out: b.be.alloc(s[0] * c)}
	return G.Must(G.ApplyOp(op, x, scale, shift))
}

func (op *bnOp) Arity() int    { return 3 }
func (op *bnOp) Type() hm.Type { return hm.NewFnType(t2(), t1(), t1(), t2()) }
func (op *bnOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.l.rows, op.l.c}, nil
}
func (op *bnOp) ReturnsPtr() bool      { return false }
func (op *bnOp) CallsExtern() bool     { return false }
func (op *bnOp) OverwritesInput() int  { return -1 }
func (op *bnOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "bn-%p", op) }
func (op *bnOp) Hashcode() uint32      { return hashOf(op) }
func (op *bnOp) String() string        { return fmt.Sprintf("BN(%d, relu=%v)", op.l.c, op.l.relu) }
func (op *bnOp) DiffWRT(int) []bool    { return []bool{true, true, true} }

func (op *bnOp) Do(vals ...G.Value) (G.Value, error) {
	be := op.be
	be.bn(op.l, be.mem(vals[0]), be.mem(vals[1]), be.mem(vals[2]), mem{}, op.out)
	if err := be.err(); err != nil {
		return nil, fmt.Errorf("trainer: %v: %w", op, err)
	}
	return be.value(op.out, op.l.rows, op.l.c), nil
}

func (op *bnOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	c := op.l.c
	gop := &bnGradOp{bn: op, dx: op.be.alloc(op.l.rows * c), dgam: op.be.alloc(c), dbet: op.be.alloc(c)}
	dx, err := G.ApplyOp(gop, inputs[0], inputs[1], grad)
	if err != nil {
		return nil, err
	}
	out := G.Nodes{dx, nil, nil}
	for i := 1; i < 3; i++ {
		// Taking dx as input orders these after the pass that computes all three gradients.
		if out[i], err = G.ApplyOp(&bnParamGradOp{g: gop, beta: i == 2}, dx); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// bnGradOp is the gradient of a bnOp with respect to x, from (x, γ, dy). The same pass
// computes the gradients of γ and β, which bnParamGradOp then hands out.
type bnGradOp struct {
	bn             *bnOp
	dx, dgam, dbet mem
}

func (op *bnGradOp) Arity() int    { return 3 }
func (op *bnGradOp) Type() hm.Type { return hm.NewFnType(t2(), t1(), t2(), t2()) }
func (op *bnGradOp) InferShape(ns ...G.DimSizer) (tensor.Shape, error) {
	return ns[2].(tensor.Shape).Clone(), nil
}
func (op *bnGradOp) ReturnsPtr() bool      { return false }
func (op *bnGradOp) CallsExtern() bool     { return false }
func (op *bnGradOp) OverwritesInput() int  { return -1 }
func (op *bnGradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "bngrad-%p", op.bn) }
func (op *bnGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *bnGradOp) String() string        { return fmt.Sprintf("∂%v", op.bn) }

func (op *bnGradOp) Do(vals ...G.Value) (G.Value, error) {
	l, be := op.bn.l, op.bn.be
	be.bnBack(l, be.mem(vals[0]), be.mem(vals[1]), be.mem(vals[2]), op.dx, op.dgam, op.dbet)
	if err := be.err(); err != nil {
		return nil, fmt.Errorf("trainer: %v: %w", op, err)
	}
	return be.value(op.dx, l.rows, l.c), nil
}

// bnParamGradOp returns the γ or β gradient its bnGradOp computed.
type bnParamGradOp struct {
	g    *bnGradOp
	beta bool
}

func (op *bnParamGradOp) Arity() int    { return 1 }
func (op *bnParamGradOp) Type() hm.Type { return hm.NewFnType(t2(), t1()) }
func (op *bnParamGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.g.bn.l.c}, nil
}
func (op *bnParamGradOp) ReturnsPtr() bool      { return false }
func (op *bnParamGradOp) CallsExtern() bool     { return false }
func (op *bnParamGradOp) OverwritesInput() int  { return -1 }
func (op *bnParamGradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "bnpgrad-%p-%v", op.g.bn, op.beta) }
func (op *bnParamGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *bnParamGradOp) String() string        { return fmt.Sprintf("∂%v/∂(β=%v)", op.g.bn, op.beta) }
func (op *bnParamGradOp) Do(...G.Value) (G.Value, error) {
	src := op.g.dgam
	if op.beta {
		src = op.g.dbet
	}
	return op.g.bn.be.value(src, op.g.bn.l.c), nil
}
