package trainer

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/natssl/natssl/configs"
)

// bnMomentum (the weight of the new batch) and bnEpsilon are PyTorch's batch-norm defaults.
const (
	bnMomentum = 0.1
	bnEpsilon  = 1e-5
)

// builder adds layers to one Gorgonia graph, taking parameter values from a shared store.
type builder struct {
	g      *G.ExprGraph
	store  *paramStore
	train  bool
	noBN   bool      // tests: a model without batch statistics, for replica equivalence
	nodes  []*G.Node // parameter nodes, in store order of first use in this graph
	params []*param
	input  *G.Node // the images: the first conv computes no gradient for it
	bnOps  []*bnOp
	bnSt   []*bnStats
	flops  float64 // multiply-adds ×2 of the convolutions and linear layers, forward + backward

	scratch *convScratch // shared by the graph's convolutions
}

func (b *builder) param(name string, kind paramKind, fanIn int, shape ...int) *G.Node {
	p := b.store.get(name, kind, fanIn, shape...)
	n := G.NewTensor(b.g, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(p.value))
	b.nodes = append(b.nodes, n)
	b.params = append(b.params, p)
	return n
}

func (b *builder) conv(x *G.Node, name string, out, k, stride, pad int) *G.Node {
	in := x.Shape()[1]
	w := b.param(name+".w", kindWeight, in*k*k, out, in, k, k)
	if b.scratch == nil {
		b.scratch = &convScratch{}
	}
	op := newConvOp(x.Shape(), out, k, stride, pad, x == b.input, b.scratch)
	fwd := 2 * float64(op.n*op.o*op.oh*op.ow) * float64(in*k*k)
	b.flops += fwd * 2 // forward and the weight gradient
	if !op.firstLayer {
		b.flops += fwd // the input gradient
	}
	return G.Must(G.ApplyOp(op, x, w))
}

// bn normalises over the batch (and space, for 4-d input) with a learnt scale and shift,
// followed by ReLU when relu is set.
func (b *builder) bn(x *G.Node, name string, relu bool) *G.Node {
	c := x.Shape()[1]
	scale := b.param(name+".gamma", kindBNScale, c, c)
	shift := b.param(name+".beta", kindBNShift, c, c)
	op := newBNOp(x.Shape(), relu, b.train, b.noBN)
	if !b.noBN {
		b.bnOps = append(b.bnOps, op)
		b.bnSt = append(b.bnSt, b.store.bn(name, c))
	}
	return G.Must(G.ApplyOp(op, x, scale, shift))
}

func (b *builder) linear(x *G.Node, name string, out int) *G.Node {
	in := x.Shape()[1]
	w := b.param(name+".w", kindWeight, in, in, out)
	bias := b.param(name+".b", kindBias, in, out)
	op := &linearOp{n: x.Shape()[0], in: in, out: out}
	b.flops += 3 * 2 * float64(op.n*in*out)
	return G.Must(G.ApplyOp(op, x, w, bias))
}

func globalAvgPool(x *G.Node) *G.Node {
	s := x.Shape()
	op := &poolOp{n: s[0], c: s[1], h: s[2], w: s[3], hw: s[2] * s[3]}
	return G.Must(G.ApplyOp(op, x))
}

// encoder adds the backbone to the graph and returns the pooled features (n × Dim).
func (b *builder) encoder(m configs.Model, x *G.Node) (*G.Node, error) {
	w := m.Width
	switch m.Backbone {
	case "convnet-small":
		h := x
		for i, c := range []struct{ out, stride int }{{w, 1}, {2 * w, 2}, {4 * w, 2}, {8 * w, 2}} {
			name := fmt.Sprintf("enc.conv%d", i+1)
			h = b.bn(b.conv(h, name, c.out, 3, c.stride, 1), name+".bn", true)
		}
		return globalAvgPool(h), nil
	case "resnet18-cifar", "resnet18":
		var h *G.Node
		if m.Backbone == "resnet18-cifar" {
			h = b.bn(b.conv(x, "enc.stem", w, 3, 1, 1), "enc.stem.bn", true)
		} else {
			h = b.bn(b.conv(x, "enc.stem", w, 7, 2, 3), "enc.stem.bn", true)
			h = G.Must(G.MaxPool2D(h, tensor.Shape{3, 3}, []int{1, 1}, []int{2, 2}))
		}
		for s, width := range []int{w, 2 * w, 4 * w, 8 * w} {
			for blk := 0; blk < 2; blk++ {
				stride := 1
				if s > 0 && blk == 0 {
					stride = 2
				}
				h = b.basicBlock(h, fmt.Sprintf("enc.layer%d.%d", s+1, blk), width, stride)
			}
		}
		return globalAvgPool(h), nil
	case "resnet50":
		h := b.bn(b.conv(x, "enc.stem", w, 7, 2, 3), "enc.stem.bn", true)
		h = G.Must(G.MaxPool2D(h, tensor.Shape{3, 3}, []int{1, 1}, []int{2, 2}))
		for s, blocks := range []int{3, 4, 6, 3} {
			width := w << s
			for blk := 0; blk < blocks; blk++ {
				stride := 1
				if s > 0 && blk == 0 {
					stride = 2
				}
				h = b.bottleneck(h, fmt.Sprintf("enc.layer%d.%d", s+1, blk), width, stride)
			}
		}
		return globalAvgPool(h), nil
	}
	return nil, fmt.Errorf("trainer: unknown backbone %q", m.Backbone)
}

func (b *builder) basicBlock(x *G.Node, name string, out, stride int) *G.Node {
	h := b.bn(b.conv(x, name+".conv1", out, 3, stride, 1), name+".bn1", true)
	h = b.bn(b.conv(h, name+".conv2", out, 3, 1, 1), name+".bn2", false)
	short := x
	if stride != 1 || x.Shape()[1] != out {
		short = b.bn(b.conv(x, name+".down", out, 1, stride, 0), name+".down.bn", false)
	}
	return relu(G.Must(G.Add(h, short)))
}

func (b *builder) bottleneck(x *G.Node, name string, width, stride int) *G.Node {
	out := 4 * width
	h := b.bn(b.conv(x, name+".conv1", width, 1, 1, 0), name+".bn1", true)
	h = b.bn(b.conv(h, name+".conv2", width, 3, stride, 1), name+".bn2", true)
	h = b.bn(b.conv(h, name+".conv3", out, 1, 1, 0), name+".bn3", false)
	short := x
	if stride != 1 || x.Shape()[1] != out {
		short = b.bn(b.conv(x, name+".down", out, 1, stride, 0), name+".down.bn", false)
	}
	return relu(G.Must(G.Add(h, short)))
}

// head adds the projection head Linear-BN-ReLU-Linear.
func (b *builder) head(m configs.Model, feat *G.Node) *G.Node {
	h := b.bn(b.linear(feat, "head.fc1", m.ProjHidden), "head.bn1", true)
	return b.linear(h, "head.fc2", m.ProjDim)
}

// featureDim is the size of the pooled encoder output.
func featureDim(m configs.Model) int {
	switch m.Backbone {
	case "resnet50":
		return 32 * m.Width
	default:
		return 8 * m.Width
	}
}

// loadBNStats copies the store's running statistics into the graph's batch-norm ops.
func (b *builder) loadBNStats() {
	for i, op := range b.bnOps {
		copy(op.mean, b.bnSt[i].mean)
		copy(op.vr, b.bnSt[i].vr)
	}
}

// relu is Gorgonia's Rectify, used after the residual additions.
func relu(x *G.Node) *G.Node { return G.Must(G.Rectify(x)) }
