package trainer

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// backboneOp runs a backbone forward: inputs (x, its parameters in build order), x the
// images (N, 3, S, S), output the pooled features (N, D). Its derivative is backboneGradOp,
// which back-propagates through the whole backbone once and leaves every parameter's
// gradient for a bbParamGradOp to hand out. One op, rather than an op per layer, lets the
// backbone keep only the activations its backward pass reads and reuse gradient buffers;
// Gorgonia's graph would keep every node's value and sum a fan-out's gradients in new tensors.
type backboneOp struct {
	bb     *backbone
	shapes []tensor.Shape // of the parameters
}

var (
	_ G.Op   = (*backboneOp)(nil)
	_ G.SDOp = (*backboneOp)(nil)
	_ G.Op   = (*backboneGradOp)(nil)
	_ G.Op   = (*bbParamGradOp)(nil)
)

func (op *backboneOp) Arity() int { return 1 + len(op.shapes) }
func (op *backboneOp) Type() hm.Type {
	ts := []hm.Type{t4()}
	for _, s := range op.shapes {
		ts = append(ts, G.TensorType{Dims: len(s), Of: tensor.Float32})
	}
	return hm.NewFnType(append(ts, t2())...)
}
func (op *backboneOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.bb.n, op.bb.featDim}, nil
}
func (op *backboneOp) ReturnsPtr() bool      { return false }
func (op *backboneOp) CallsExtern() bool     { return false }
func (op *backboneOp) OverwritesInput() int  { return -1 }
func (op *backboneOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "backbone-%p", op) }
func (op *backboneOp) Hashcode() uint32      { return hashOf(op) }
func (op *backboneOp) String() string        { return fmt.Sprintf("Backbone(%d steps)", len(op.bb.steps)) }
func (op *backboneOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := 1; i < n; i++ {
		d[i] = true
	}
	return d
}

func (op *backboneOp) Do(vals ...G.Value) (G.Value, error) {
	bb := op.bb
	bb.x = bb.be.mem(vals[0])
	for i, v := range vals[1:] {
		bb.w[i] = bb.be.mem(v)
	}
	bb.forward()
	if err := bb.be.err(); err != nil {
		return nil, fmt.Errorf("trainer: backbone forward: %w", err)
	}
	return bb.be.value(bb.feat, bb.n, bb.featDim), nil
}

func (op *backboneOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	done, err := G.ApplyOp(&backboneGradOp{bb: op.bb}, grad)
	if err != nil {
		return nil, err
	}
	out := make(G.Nodes, len(inputs))
	for i := 1; i < len(inputs); i++ {
		if out[i], err = G.ApplyOp(&bbParamGradOp{bb: op.bb, i: i - 1, shape: op.shapes[i-1]}, done); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// backboneGradOp back-propagates the features' gradient through the backbone; its output
// is a token that orders the bbParamGradOps after it.
type backboneGradOp struct{ bb *backbone }

func (op *backboneGradOp) Arity() int    { return 1 }
func (op *backboneGradOp) Type() hm.Type { return hm.NewFnType(t2(), tensor.Float32) }
func (op *backboneGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.ScalarShape(), nil
}
func (op *backboneGradOp) ReturnsPtr() bool      { return false }
func (op *backboneGradOp) CallsExtern() bool     { return false }
func (op *backboneGradOp) OverwritesInput() int  { return -1 }
func (op *backboneGradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "backbone-grad-%p", op.bb) }
func (op *backboneGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *backboneGradOp) String() string        { return "∂Backbone" }
func (op *backboneGradOp) Do(vals ...G.Value) (G.Value, error) {
	bb := op.bb
	bb.dfeat = bb.be.mem(vals[0])
	bb.backward()
	if err := bb.be.err(); err != nil {
		return nil, fmt.Errorf("trainer: backbone backward: %w", err)
	}
	return G.NewF32(0), nil
}

// bbParamGradOp returns the gradient of parameter i that its backboneGradOp computed.
type bbParamGradOp struct {
	bb    *backbone
	i     int
	shape tensor.Shape
}

func (op *bbParamGradOp) Arity() int { return 1 }
func (op *bbParamGradOp) Type() hm.Type {
	return hm.NewFnType(tensor.Float32, G.TensorType{Dims: len(op.shape), Of: tensor.Float32})
}
func (op *bbParamGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.shape.Clone(), nil
}
func (op *bbParamGradOp) ReturnsPtr() bool     { return false }
func (op *bbParamGradOp) CallsExtern() bool    { return false }
func (op *bbParamGradOp) OverwritesInput() int { return -1 }
func (op *bbParamGradOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "backbone-pgrad-%p-%d", op.bb, op.i)
}
func (op *bbParamGradOp) Hashcode() uint32 { return hashOf(op) }
func (op *bbParamGradOp) String() string   { return fmt.Sprintf("∂Backbone/∂p%d", op.i) }
func (op *bbParamGradOp) Do(...G.Value) (G.Value, error) {
	return op.bb.be.value(op.bb.dw[op.i], op.shape.Clone()...), nil
}
