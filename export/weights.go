package export

import (
	"fmt"
	"math"

	"github.com/natssl/natssl/trainer"
)

// Cost is what a model costs to keep and to run on one image.
type Cost struct {
	Params int64 // learnable scalars (conv and linear weights and biases, batch-norm γ and β)
	// MACs are the multiply-adds of the convolutions and linear layers for one image;
	// MFLOPs counts each as two operations (as natssl bench train does), in millions.
	// Torchvision's model table counts one (its "GFLOPS" are GMACs: resnet50, 4.09 at 224).
	MACs   int64
	MFLOPs float64
}

// cost adds up the plan's parameters and multiply-adds.
func (p *plan) cost() Cost {
	var c Cost
	for _, n := range p.nodes {
		switch {
		case n.conv != nil:
			l := n.conv
			c.Params += int64(l.out*l.in*l.k*l.k + 2*l.out)
			c.MACs += int64(n.c*n.h*n.w) * int64(l.in*l.k*l.k)
		case n.lin != nil:
			l := n.lin
			c.Params += int64(l.in*l.out + l.out)
			if l.bn != "" {
				c.Params += int64(2 * l.out)
			}
			c.MACs += int64(l.in * l.out)
		}
	}
	c.MFLOPs = 2 * float64(c.MACs) / 1e6
	return c
}

// tensors reads a checkpoint's tensors by natssl name, checking their sizes.
type tensors struct{ c *trainer.Checkpoint }

func (t tensors) get(name string, n int) ([]float32, error) {
	v, ok := t.c.Tensors[name]
	if !ok {
		return nil, fmt.Errorf("export: checkpoint %s has no tensor %s (a different model?)", t.c.Path, name)
	}
	if len(v) != n {
		return nil, fmt.Errorf("export: checkpoint %s: tensor %s has %d values, the model needs %d", t.c.Path, name, len(v), n)
	}
	return v, nil
}

// batchNorm is one batch-norm layer's learnt scale and shift and its running statistics.
type batchNorm struct {
	gamma, beta, mean, vr []float32
}

func (t tensors) batchNorm(name string, c int) (batchNorm, error) {
	var b batchNorm
	var err error
	for _, x := range []struct {
		dst  *[]float32
		name string
	}{
		{&b.gamma, "param/" + name + ".gamma"}, {&b.beta, "param/" + name + ".beta"},
		{&b.mean, "bn/" + name + "/mean"}, {&b.vr, "bn/" + name + "/var"},
	} {
		if *x.dst, err = t.get(x.name, c); err != nil {
			return batchNorm{}, err
		}
	}
	return b, nil
}

// fold returns the per-channel scale and shift that evaluation-mode batch norm applies:
// y = scale·x + shift, with scale = γ/√(var+ε) and shift = β − mean·scale, in float64.
func (b batchNorm) fold() (scale, shift []float64) {
	scale = make([]float64, len(b.gamma))
	shift = make([]float64, len(b.gamma))
	for c := range b.gamma {
		scale[c] = float64(b.gamma[c]) / math.Sqrt(float64(b.vr[c])+bnEpsilon)
		shift[c] = float64(b.beta[c]) - float64(b.mean[c])*scale[c]
	}
	return scale, shift
}

// convWeights are a conv layer's kernel (out × in × k × k, as natssl and PyTorch lay it
// out) and its batch norm.
type convWeights struct {
	w  []float32
	bn batchNorm
}

func (t tensors) conv(l *convLayer) (convWeights, error) {
	w, err := t.get("param/"+l.name+".w", l.out*l.in*l.k*l.k)
	if err != nil {
		return convWeights{}, err
	}
	bn, err := t.batchNorm(l.bn, l.out)
	return convWeights{w: w, bn: bn}, err
}

// folded is the convolution with the batch norm folded in: kernel and bias.
func (c convWeights) folded() (w, b []float32) {
	scale, shift := c.bn.fold()
	per := len(c.w) / len(scale)
	w = make([]float32, len(c.w))
	for o, s := range scale {
		for i, v := range c.w[o*per : (o+1)*per] {
			w[o*per+i] = float32(float64(v) * s)
		}
	}
	return w, toFloat32(shift)
}

// linearWeights are a head layer's weight (in × out, natssl's layout), bias, and batch
// norm when it has one.
type linearWeights struct {
	w, b []float32
	bn   *batchNorm
}

func (t tensors) linear(l *linearLayer) (linearWeights, error) {
	w, err := t.get("param/"+l.name+".w", l.in*l.out)
	if err != nil {
		return linearWeights{}, err
	}
	b, err := t.get("param/"+l.name+".b", l.out)
	if err != nil {
		return linearWeights{}, err
	}
	lw := linearWeights{w: w, b: b}
	if l.bn != "" {
		bn, err := t.batchNorm(l.bn, l.out)
		if err != nil {
			return linearWeights{}, err
		}
		lw.bn = &bn
	}
	return lw, nil
}

// folded is the layer with its batch norm folded in, weight still in × out.
func (l linearWeights) folded() (w, b []float32) {
	if l.bn == nil {
		return l.w, l.b
	}
	scale, shift := l.bn.fold()
	out := len(scale)
	w = make([]float32, len(l.w))
	for i, v := range l.w {
		w[i] = float32(float64(v) * scale[i%out])
	}
	b = make([]float32, out)
	for j := range b {
		b[j] = float32(float64(l.b[j])*scale[j] + shift[j])
	}
	return w, b
}

// transposed returns the in × out weight as PyTorch's out × in.
func (l linearWeights) transposed() []float32 {
	out := len(l.b)
	in := len(l.w) / out
	t := make([]float32, len(l.w))
	for i := 0; i < in; i++ {
		for j := 0; j < out; j++ {
			t[j*in+i] = l.w[i*out+j]
		}
	}
	return t
}

func toFloat32(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}
