package trainer

import (
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
	be     backend
	train  bool
	stats  bool      // batch norm with the batch's statistics though not training (a target network)
	prefix string    // of the parameter nodes' names: Gorgonia merges input nodes of one name
	noBN   bool      // tests: a model without batch statistics, for replica equivalence
	nodes  []*G.Node // parameter nodes, in store order of first use in this graph
	params []*param
	bns    []*bnLayer // batch-norm layers with statistics, in store order
	bnSt   []*bnStats
	flops  float64 // multiply-adds ×2 of the convolutions and linear layers, forward + backward

	winograd bool         // 3×3 stride-1 convolutions by Winograd's F(4×4, 3×3) where wide enough
	bb       *backbone    // the encoder's
	scratch  *convScratch // for the backbone's convolutions (nil: its own)
	wino     *winoShare   // Winograd weights computed by the net for all replicas (nil: per pass)
}

func (b *builder) param(name string, kind paramKind, fanIn int, shape ...int) *G.Node {
	p := b.store.get(name, kind, fanIn, shape...)
	n := G.NewTensor(b.g, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName(b.prefix+name), G.WithValue(b.be.param(p)))
	b.nodes = append(b.nodes, n)
	b.params = append(b.params, p)
	return n
}

// bnMode is the mode of the graph's batch-norm layers.
func (b *builder) bnMode() bnMode {
	switch {
	case b.noBN:
		return bnAffine
	case b.train || b.stats:
		return bnTrain
	}
	return bnEval
}

// newBN creates a batch-norm layer named name over rows × c and, unless the model has no
// batch statistics, registers its running statistics.
func (b *builder) newBN(name string, rows, c, chunk int, relu, residual bool) *bnLayer {
	l := newBNLayer(rows, c, chunk, relu, residual, b.bnMode())
	b.be.bnLayer(l)
	if !b.noBN {
		b.bns = append(b.bns, l)
		b.bnSt = append(b.bnSt, b.store.bn(name, c))
	}
	return l
}

func (b *builder) linear(x *G.Node, name string, out int) *G.Node {
	in := x.Shape()[1]
	w := b.param(name+".w", kindWeight, in, in, out)
	bias := b.param(name+".b", kindBias, in, out)
	op := newLinearOp(b.be, x.Shape()[0], in, out)
	b.flops += 3 * 2 * float64(op.n*in*out)
	return G.Must(G.ApplyOp(op, x, w, bias))
}

// encoder adds the backbone to the graph as one op and returns the pooled features (n × Dim).
func (b *builder) encoder(m configs.Model, x *G.Node) (*G.Node, error) {
	s := x.Shape()
	first := len(b.nodes)
	bb, err := b.backbone(m, s[0], s[1], s[2])
	if err != nil {
		return nil, err
	}
	b.bb = bb
	op := &backboneOp{bb: bb}
	inputs := G.Nodes{x}
	for _, p := range b.params[first:] {
		op.shapes = append(op.shapes, p.value.Shape().Clone())
	}
	inputs = append(inputs, b.nodes[first:]...)
	bb.w = make([]mem, len(op.shapes))
	if b.train {
		for _, p := range b.params[first:] {
			bb.dw = append(bb.dw, b.be.alloc(len(p.data())))
		}
	}
	if err := b.planMemory(m, bb); err != nil {
		return nil, err
	}
	b.flops += bb.flops
	return G.ApplyOp(op, inputs...)
}

// head adds the projection head Linear-BN-ReLU-Linear.
func (b *builder) head(m configs.Model, feat *G.Node) *G.Node {
	h := b.bn1d(b.linear(feat, "head.fc1", m.ProjHidden), "head.bn1", true)
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

// loadBNStats copies the store's running statistics into the graph's batch-norm layers.
func (b *builder) loadBNStats() {
	for i, l := range b.bns {
		copy(l.mean, b.bnSt[i].mean)
		copy(l.vr, b.bnSt[i].vr)
	}
}
