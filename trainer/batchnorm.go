package trainer

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// bnOp is batch normalisation with its scale and shift, optionally followed by ReLU, in one
// pass: inputs (x, γ, β), x of shape (N, C) or (N, C, H, W), γ and β of shape (C). In
// training it normalises with the batch statistics and updates its running statistics; in
// evaluation it uses the running statistics. Gorgonia's BatchNorm needs two more broadcast
// ops for γ and β, zeroes its running statistics on SetTraining(true), and loops slowly.
// With affine set it is only y = γx + β (a model without batch statistics, for tests).
type bnOp struct {
	dims       int
	n, c, hw   int
	relu       bool
	train      bool
	affine     bool
	mean, vr   []float32 // running statistics
	xhat, istd []float32 // kept by the forward pass for the backward pass
	out        []float32
}

var (
	_ G.Op   = (*bnOp)(nil)
	_ G.SDOp = (*bnOp)(nil)
)

func newBNOp(s tensor.Shape, relu, train, affine bool) *bnOp {
	op := &bnOp{dims: len(s), n: s[0], c: s[1], hw: 1, relu: relu, train: train, affine: affine}
	if len(s) == 4 {
		op.hw = s[2] * s[3]
	}
	op.mean = make([]float32, op.c)
	op.vr = make([]float32, op.c)
	for i := range op.vr {
		op.vr[i] = 1
	}
	return op
}

func (op *bnOp) tt() G.TensorType { return G.TensorType{Dims: op.dims, Of: tensor.Float32} }
func (op *bnOp) Arity() int       { return 3 }
func (op *bnOp) Type() hm.Type {
	v := G.TensorType{Dims: 1, Of: tensor.Float32}
	return hm.NewFnType(op.tt(), v, v, op.tt())
}
func (op *bnOp) InferShape(ns ...G.DimSizer) (tensor.Shape, error) {
	return ns[0].(tensor.Shape).Clone(), nil
}
func (op *bnOp) ReturnsPtr() bool      { return false }
func (op *bnOp) CallsExtern() bool     { return false }
func (op *bnOp) OverwritesInput() int  { return -1 }
func (op *bnOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "bn-%p", op) }
func (op *bnOp) Hashcode() uint32      { return hashOf(op) }
func (op *bnOp) String() string        { return fmt.Sprintf("BN(%d, relu=%v)", op.c, op.relu) }
func (op *bnOp) DiffWRT(int) []bool    { return []bool{true, true, true} }

func (op *bnOp) Do(vals ...G.Value) (G.Value, error) {
	x := vals[0].Data().([]float32)
	gamma := vals[1].Data().([]float32)
	beta := vals[2].Data().([]float32)
	op.out = grow(op.out, len(x))
	op.xhat = grow(op.xhat, len(x))
	op.istd = grow(op.istd, op.c)
	m := float64(op.n * op.hw)
	for c := 0; c < op.c; c++ {
		var mu, istd float64
		switch {
		case op.affine:
			mu, istd = 0, 1
		case op.train:
			// float32 sums within an image's plane, float64 across planes
			var s float64
			for n := 0; n < op.n; n++ {
				var p float32
				for _, v := range x[(n*op.c+c)*op.hw:][:op.hw] {
					p += v
				}
				s += float64(p)
			}
			mu = s / m
			fmu := float32(mu)
			var ss float64
			for n := 0; n < op.n; n++ {
				var p float32
				for _, v := range x[(n*op.c+c)*op.hw:][:op.hw] {
					d := v - fmu
					p += d * d
				}
				ss += float64(p)
			}
			vb := ss / m
			istd = 1 / math.Sqrt(vb+bnEpsilon)
			unbiased := vb
			if m > 1 {
				unbiased = ss / (m - 1)
			}
			op.mean[c] = float32((1-bnMomentum)*float64(op.mean[c]) + bnMomentum*mu)
			op.vr[c] = float32((1-bnMomentum)*float64(op.vr[c]) + bnMomentum*unbiased)
		default:
			mu, istd = float64(op.mean[c]), 1/math.Sqrt(float64(op.vr[c])+bnEpsilon)
		}
		op.istd[c] = float32(istd)
		g, b := gamma[c], beta[c]
		fmu, fistd := float32(mu), float32(istd)
		for n := 0; n < op.n; n++ {
			i0 := (n*op.c + c) * op.hw
			xs, xh, ys := x[i0:][:op.hw], op.xhat[i0:][:op.hw], op.out[i0:][:op.hw]
			xh = xh[:len(xs)]
			ys = ys[:len(xs)]
			if op.relu {
				for j, v := range xs {
					h := (v - fmu) * fistd
					xh[j] = h
					ys[j] = max(g*h+b, 0)
				}
				continue
			}
			for j, v := range xs {
				h := (v - fmu) * fistd
				xh[j] = h
				ys[j] = g*h + b
			}
		}
	}
	return tensor.New(tensor.WithShape(vals[0].Shape().Clone()...), tensor.WithBacking(op.out)), nil
}

func (op *bnOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	gop := &bnGradOp{bn: op}
	dx, err := G.ApplyOp(gop, inputs[1], inputs[2], grad)
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

// bnGradOp is the gradient of a bnOp with respect to x, from (γ, β, dy) and the normalised
// input the forward pass kept. The same pass computes the gradients of γ and β, which
// bnParamGradOp then hands out.
type bnGradOp struct {
	bn             *bnOp
	dx, dgam, dbet []float32
}

func (op *bnGradOp) Arity() int { return 3 }
func (op *bnGradOp) Type() hm.Type {
	v := G.TensorType{Dims: 1, Of: tensor.Float32}
	return hm.NewFnType(v, v, op.bn.tt(), op.bn.tt())
}
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
	bn := op.bn
	gamma := vals[0].Data().([]float32)
	beta := vals[1].Data().([]float32)
	dy := vals[2].Data().([]float32)
	op.dx = grow(op.dx, len(dy))
	op.dgam = grow(op.dgam, bn.c)
	op.dbet = grow(op.dbet, bn.c)
	m := float32(bn.n * bn.hw)
	for c := 0; c < bn.c; c++ {
		g, b := gamma[c], beta[c]
		// dx first holds dy through the ReLU; sums of it and of its product with x̂.
		var sdy, sdyx float64
		for n := 0; n < bn.n; n++ {
			i0 := (n*bn.c + c) * bn.hw
			xh, d, dx := bn.xhat[i0:][:bn.hw], dy[i0:][:bn.hw], op.dx[i0:][:bn.hw]
			var s1, s2 float32
			for j, h := range xh {
				v := d[j]
				if bn.relu && g*h+b <= 0 {
					v = 0
				}
				dx[j] = v
				s1 += v
				s2 += v * h
			}
			sdy += float64(s1)
			sdyx += float64(s2)
		}
		op.dgam[c], op.dbet[c] = float32(sdyx), float32(sdy)
		k := g * bn.istd[c]
		var mdy, mdyx float32
		if bn.train && !bn.affine {
			mdy, mdyx = float32(sdy)/m, float32(sdyx)/m
		}
		for n := 0; n < bn.n; n++ {
			i0 := (n*bn.c + c) * bn.hw
			xh, dx := bn.xhat[i0:][:bn.hw], op.dx[i0:][:bn.hw]
			for j, h := range xh {
				dx[j] = k * (dx[j] - mdy - h*mdyx)
			}
		}
	}
	return tensor.New(tensor.WithShape(vals[2].Shape().Clone()...), tensor.WithBacking(op.dx)), nil
}

// bnParamGradOp returns the γ or β gradient its bnGradOp computed.
type bnParamGradOp struct {
	g    *bnGradOp
	beta bool
}

func (op *bnParamGradOp) Arity() int { return 1 }
func (op *bnParamGradOp) Type() hm.Type {
	return hm.NewFnType(op.g.bn.tt(), G.TensorType{Dims: 1, Of: tensor.Float32})
}
func (op *bnParamGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.g.bn.c}, nil
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
	return tensor.New(tensor.WithShape(op.g.bn.c), tensor.WithBacking(append([]float32(nil), src...))), nil
}
