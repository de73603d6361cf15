package trainer

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/natssl/natssl/configs"
)

// replica is one data-parallel copy of the training graph: encoder, head and loss, on its
// own tape machine. Its parameter nodes share their values with every other replica.
type replica struct {
	index  int
	device string
	n      int // images per replica per step (2n views)
	g      *G.ExprGraph
	x      *G.Node
	xs     []float32
	b      *builder
	grads  G.Nodes
	vm     G.VM
}

// buildOptions are the internal switches of a graph build.
type buildOptions struct {
	noBN       bool  // replace batch norm by a per-channel affine map (replica-equivalence tests)
	noWinograd bool  // every convolution by im2col (tests compare the two)
	ranks      Ranks // the processes the run spans; nil: this one alone
}

func newReplica(index int, device string, m configs.Model, size, n int, store *paramStore, ga *gather, wino *winoShare, opt buildOptions) (*replica, error) {
	g := G.NewGraph()
	xs := make([]float32, 2*n*3*size*size)
	xt := tensor.New(tensor.WithShape(2*n, 3, size, size), tensor.WithBacking(xs))
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(2*n, 3, size, size), G.WithName("x"), G.WithValue(xt))
	b := &builder{g: g, store: store, train: true, noBN: opt.noBN, winograd: !opt.noWinograd, wino: wino}
	feat, err := b.encoder(m, x)
	if err != nil {
		return nil, err
	}
	z := b.head(m, feat)
	cost, err := G.ApplyOp(&lossOp{g: ga, r: index}, z)
	if err != nil {
		return nil, fmt.Errorf("trainer: replica %d: loss: %w", index, err)
	}
	grads, err := G.Grad(cost, b.nodes...)
	if err != nil {
		return nil, fmt.Errorf("trainer: replica %d: gradients: %w", index, err)
	}
	b.loadBNStats()
	vm, err := newMachine(device, g)
	if err != nil {
		return nil, err
	}
	return &replica{index: index, device: device, n: n, g: g, x: x, xs: xs, b: b, grads: grads, vm: vm}, nil
}

// setInput copies images [lo, lo+n) of both views into the replica's input: the first n
// rows are view 1, the next n view 2.
func (r *replica) setInput(views [2][]float32, lo int) {
	per := len(r.xs) / (2 * r.n)
	copy(r.xs[:r.n*per], views[0][lo*per:(lo+r.n)*per])
	copy(r.xs[r.n*per:], views[1][lo*per:(lo+r.n)*per])
}

// run does forward and backward; the gradients are then readable with grad.
func (r *replica) run() error {
	r.vm.Reset()
	if err := r.vm.RunAll(); err != nil {
		return fmt.Errorf("trainer: replica %d (%s): %w", r.index, r.device, err)
	}
	return nil
}

// grad returns the gradient of the i-th parameter node.
func (r *replica) grad(i int) []float32 {
	return r.grads[i].Value().Data().([]float32)
}

// bnStats returns the running statistics of the replica's i-th batch-norm op.
func (r *replica) bnStats(i int) (mean, vr []float32) {
	return r.b.bns[i].mean, r.b.bns[i].vr
}

func (r *replica) close() error { return r.vm.Close() }
