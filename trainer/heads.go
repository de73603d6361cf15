package trainer

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/natssl/natssl/configs"
)

// The heads on the features, per method (each as its paper has it, at model.proj_hidden and
// model.proj_dim): SimCLR's and BYOL's projector is Linear-BN-ReLU-Linear (head.fc1, head.bn1,
// head.fc2), MoCo v2's Linear-ReLU-Linear (head.fc1, head.fc2), VICReg's and Barlow Twins'
// Linear-BN-ReLU-Linear-BN-ReLU-Linear (head.fc1 … head.fc3); BYOL's predictor on the online
// projection is Linear-BN-ReLU-Linear (pred.fc1, pred.bn1, pred.fc2) back to model.proj_dim.

// projector adds method's projection head on the features.
func (b *builder) projector(method string, m configs.Model, feat *G.Node) *G.Node {
	switch method {
	case "moco":
		h := b.relu(b.linear(feat, "head.fc1", m.ProjHidden))
		return b.linear(h, "head.fc2", m.ProjDim)
	case "vicreg", "barlow":
		h := b.bn1d(b.linear(feat, "head.fc1", m.ProjHidden), "head.bn1", true)
		h = b.bn1d(b.linear(h, "head.fc2", m.ProjHidden), "head.bn2", true)
		return b.linear(h, "head.fc3", m.ProjDim)
	}
	return b.head(m, feat)
}

// predictor adds BYOL's predictor of hidden units on the projection z.
func (b *builder) predictor(z *G.Node, hidden int) *G.Node {
	h := b.bn1d(b.linear(z, "pred.fc1", hidden), "pred.bn1", true)
	return b.linear(h, "pred.fc2", z.Shape()[1])
}

// relu adds max(0, x) over a 2-d node.
func (b *builder) relu(x *G.Node) *G.Node {
	s := x.Shape()
	return G.Must(G.ApplyOp(&reluOp{rows: s[0], c: s[1]}, x))
}

// reluOp is max(0, x); its gradient passes dy where the output is positive. Gorgonia's Rectify
// would do, at the cost of a comparison tensor per step.
type reluOp struct {
	rows, c int
	y, dx   []float32
}

var _ G.SDOp = (*reluOp)(nil)

func (op *reluOp) Arity() int    { return 1 }
func (op *reluOp) Type() hm.Type { return hm.NewFnType(t2(), t2()) }
func (op *reluOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.rows, op.c}, nil
}
func (op *reluOp) ReturnsPtr() bool      { return false }
func (op *reluOp) CallsExtern() bool     { return false }
func (op *reluOp) OverwritesInput() int  { return -1 }
func (op *reluOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "relu-%p", op) }
func (op *reluOp) Hashcode() uint32      { return hashOf(op) }
func (op *reluOp) String() string        { return "ReLU" }
func (op *reluOp) DiffWRT(int) []bool    { return []bool{true} }
func (op *reluOp) Do(vals ...G.Value) (G.Value, error) {
	x := vals[0].Data().([]float32)
	op.y = grow(op.y, len(x))
	for i, v := range x {
		op.y[i] = max(v, 0)
	}
	return tensor.New(tensor.WithShape(op.rows, op.c), tensor.WithBacking(op.y)), nil
}
func (op *reluOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&reluGradOp{op: op}, output, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx}, nil
}

// reluGradOp is dy masked by y > 0, from (y, dy).
type reluGradOp struct{ op *reluOp }

func (g *reluGradOp) Arity() int    { return 2 }
func (g *reluGradOp) Type() hm.Type { return hm.NewFnType(t2(), t2(), t2()) }
func (g *reluGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{g.op.rows, g.op.c}, nil
}
func (g *reluGradOp) ReturnsPtr() bool      { return false }
func (g *reluGradOp) CallsExtern() bool     { return false }
func (g *reluGradOp) OverwritesInput() int  { return -1 }
func (g *reluGradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "relugrad-%p", g.op) }
func (g *reluGradOp) Hashcode() uint32      { return hashOf(g) }
func (g *reluGradOp) String() string        { return "∂ReLU" }
func (g *reluGradOp) Do(vals ...G.Value) (G.Value, error) {
	y, dy := vals[0].Data().([]float32), vals[1].Data().([]float32)
	g.op.dx = grow(g.op.dx, len(dy))
	for i, v := range dy {
		if y[i] > 0 {
			g.op.dx[i] = v
		} else {
			g.op.dx[i] = 0
		}
	}
	return tensor.New(tensor.WithShape(g.op.rows, g.op.c), tensor.WithBacking(g.op.dx)), nil
}

// concatRows stacks 2-d nodes of equal width: multi-crop's features of each crop size, in
// view order, so that the head runs once over every view (and its batch norm normalises over
// all of them, as SwAV's and DINO's heads do).
func concatRows(xs []*G.Node) *G.Node {
	if len(xs) == 1 {
		return xs[0]
	}
	op := &concatOp{c: xs[0].Shape()[1]}
	for _, x := range xs {
		op.rows = append(op.rows, x.Shape()[0])
	}
	return G.Must(G.ApplyOp(op, xs...))
}

// concatOp stacks its inputs' rows; the gradient of input i is its rows of dy.
type concatOp struct {
	rows []int
	c    int
	y    []float32
}

var _ G.SDOp = (*concatOp)(nil)

func (op *concatOp) total() int {
	n := 0
	for _, r := range op.rows {
		n += r
	}
	return n
}
func (op *concatOp) Arity() int { return len(op.rows) }
func (op *concatOp) Type() hm.Type {
	ts := make([]hm.Type, 0, len(op.rows)+1)
	for range op.rows {
		ts = append(ts, t2())
	}
	return hm.NewFnType(append(ts, t2())...)
}
func (op *concatOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.total(), op.c}, nil
}
func (op *concatOp) ReturnsPtr() bool      { return false }
func (op *concatOp) CallsExtern() bool     { return false }
func (op *concatOp) OverwritesInput() int  { return -1 }
func (op *concatOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "concat-%p", op) }
func (op *concatOp) Hashcode() uint32      { return hashOf(op) }
func (op *concatOp) String() string        { return fmt.Sprintf("ConcatRows%v", op.rows) }
func (op *concatOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = true
	}
	return d
}
func (op *concatOp) Do(vals ...G.Value) (G.Value, error) {
	op.y = grow(op.y, op.total()*op.c)
	at := 0
	for _, v := range vals {
		at += copy(op.y[at:], v.Data().([]float32))
	}
	return tensor.New(tensor.WithShape(op.total(), op.c), tensor.WithBacking(op.y)), nil
}
func (op *concatOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	out := make(G.Nodes, len(inputs))
	lo := 0
	for i, r := range op.rows {
		d, err := G.ApplyOp(&rowsOp{lo: lo, rows: r, c: op.c}, grad)
		if err != nil {
			return nil, err
		}
		out[i] = d
		lo += r
	}
	return out, nil
}

// rowsOp is rows [lo, lo+rows) of its input, copied.
type rowsOp struct {
	lo, rows, c int
	y           []float32
}

func (op *rowsOp) Arity() int    { return 1 }
func (op *rowsOp) Type() hm.Type { return hm.NewFnType(t2(), t2()) }
func (op *rowsOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.rows, op.c}, nil
}
func (op *rowsOp) ReturnsPtr() bool      { return false }
func (op *rowsOp) CallsExtern() bool     { return false }
func (op *rowsOp) OverwritesInput() int  { return -1 }
func (op *rowsOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "rows-%p", op) }
func (op *rowsOp) Hashcode() uint32      { return hashOf(op) }
func (op *rowsOp) String() string        { return fmt.Sprintf("Rows[%d:%d]", op.lo, op.lo+op.rows) }
func (op *rowsOp) Do(vals ...G.Value) (G.Value, error) {
	op.y = grow(op.y, op.rows*op.c)
	copy(op.y, vals[0].Data().([]float32)[op.lo*op.c:(op.lo+op.rows)*op.c])
	return tensor.New(tensor.WithShape(op.rows, op.c), tensor.WithBacking(op.y)), nil
}
