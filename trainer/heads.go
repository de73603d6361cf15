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
	return G.Must(G.ApplyOp(&reluOp{be: b.be, rows: s[0], c: s[1], y: b.be.alloc(s[0] * s[1])}, x))
}

// reluOp is max(0, x); its gradient passes dy where the output is positive. Gorgonia's Rectify
// would do on the host, at the cost of a comparison tensor per step; this one runs on the
// replica's backend.
type reluOp struct {
	be      backend
	rows, c int
	y       mem
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
	op.be.relu(op.be.mem(vals[0]), op.y)
	if err := op.be.err(); err != nil {
		return nil, fmt.Errorf("trainer: %v: %w", op, err)
	}
	return op.be.value(op.y, op.rows, op.c), nil
}
func (op *reluOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&reluGradOp{op: op, dx: op.be.alloc(op.rows * op.c)}, output, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx}, nil
}

// reluGradOp is dy masked by y > 0, from (y, dy): a copy of dy, then the backbone's ReLU mask.
type reluGradOp struct {
	op *reluOp
	dx mem
}

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
	be := g.op.be
	be.copy(g.dx, be.mem(vals[1]))
	be.reluMask(g.dx, be.mem(vals[0]))
	if err := be.err(); err != nil {
		return nil, fmt.Errorf("trainer: %v: %w", g, err)
	}
	return be.value(g.dx, g.op.rows, g.op.c), nil
}

// concatRows stacks 2-d nodes of equal width: multi-crop's features of each crop size, in
// view order, so that the head runs once over every view (and its batch norm normalises over
// all of them, as SwAV's and DINO's heads do).
func concatRows(be backend, xs []*G.Node) *G.Node {
	if len(xs) == 1 {
		return xs[0]
	}
	op := &concatOp{be: be, c: xs[0].Shape()[1]}
	for _, x := range xs {
		op.rows = append(op.rows, x.Shape()[0])
	}
	op.y = be.alloc(op.total() * op.c)
	return G.Must(G.ApplyOp(op, xs...))
}

// concatOp stacks its inputs' rows; the gradient of input i is its rows of dy.
type concatOp struct {
	be   backend
	rows []int
	c    int
	y    mem
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
	at := 0
	for i, v := range vals {
		n := op.rows[i] * op.c
		op.be.copy(op.y.slice(at, n), op.be.mem(v))
		at += n
	}
	if err := op.be.err(); err != nil {
		return nil, fmt.Errorf("trainer: %v: %w", op, err)
	}
	return op.be.value(op.y, op.total(), op.c), nil
}
func (op *concatOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	out := make(G.Nodes, len(inputs))
	lo := 0
	for i, r := range op.rows {
		d, err := G.ApplyOp(&rowsOp{be: op.be, lo: lo, rows: r, c: op.c, y: op.be.alloc(r * op.c)}, grad)
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
	be          backend
	lo, rows, c int
	y           mem
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
	op.be.copy(op.y, op.be.mem(vals[0]).slice(op.lo*op.c, op.rows*op.c))
	if err := op.be.err(); err != nil {
		return nil, fmt.Errorf("trainer: %v: %w", op, err)
	}
	return op.be.value(op.y, op.rows, op.c), nil
}
