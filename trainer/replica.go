package trainer

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/natssl/natssl/configs"
)

// replica is one data-parallel copy of the training graph: encoder, head and loss, on its
// own tape machine, computing through its device's backend. Its parameter nodes share their
// values with every other replica of the same device.
type replica struct {
	index  int
	device string
	n      int // images per replica per step (2n views)
	g      *G.ExprGraph
	x      *G.Node
	in     replicaInput
	b      *builder
	grads  G.Nodes
	vm     G.VM
}

// buildOptions are the internal switches of a graph build.
type buildOptions struct {
	noBN       bool  // replace batch norm by a per-channel affine map (replica-equivalence tests)
	noWinograd bool  // every convolution by im2col (tests compare the two)
	ranks      Ranks // the processes the run spans; nil: this one alone
	gpu        gpuOptions
}

// replicaInput is where a replica's images go before its forward pass: host floats on the
// CPU, device memory on a GPU.
type replicaInput interface {
	value() G.Value // what the input node holds
	// set copies images [lo, lo+n) of both views in: the first n rows are view 1, the next
	// n view 2.
	set(views [2][]float32, lo int) error
}

// hostInput is a CPU replica's input.
type hostInput struct {
	n  int
	xs []float32
	t  *tensor.Dense
}

func newHostInput(n, size int) *hostInput {
	xs := make([]float32, 2*n*3*size*size)
	return &hostInput{n: n, xs: xs, t: tensor.New(tensor.WithShape(2*n, 3, size, size), tensor.WithBacking(xs))}
}

func (h *hostInput) value() G.Value { return h.t }

func (h *hostInput) set(views [2][]float32, lo int) error {
	per := len(h.xs) / (2 * h.n)
	copy(h.xs[:h.n*per], views[0][lo*per:(lo+h.n)*per])
	copy(h.xs[h.n*per:], views[1][lo*per:(lo+h.n)*per])
	return nil
}

func newReplica(index int, device string, m configs.Model, size, n int, store *paramStore, ga *gather, wino *winoShare, opt buildOptions, be backend, in replicaInput) (*replica, error) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(2*n, 3, size, size), G.WithName("x"), G.WithValue(in.value()))
	b := &builder{g: g, store: store, be: be, train: true, noBN: opt.noBN, winograd: !opt.noWinograd, wino: wino}
	feat, err := b.encoder(m, x)
	if err != nil {
		return nil, err
	}
	z := b.head(m, feat)
	cost, err := G.ApplyOp(&lossOp{g: ga, r: index, be: b.be}, z)
	if err != nil {
		return nil, fmt.Errorf("trainer: replica %d: loss: %w", index, err)
	}
	grads, err := G.Grad(cost, b.nodes...)
	if err != nil {
		return nil, fmt.Errorf("trainer: replica %d: gradients: %w", index, err)
	}
	if err := be.built(b.bns); err != nil {
		return nil, fmt.Errorf("trainer: replica %d (%s): %w", index, device, err)
	}
	b.loadBNStats()
	return &replica{index: index, device: device, n: n, g: g, x: x, in: in, b: b, grads: grads, vm: G.NewTapeMachine(g)}, nil
}

// run does forward and backward; the gradients are then readable with grad.
func (r *replica) run() error {
	r.vm.Reset()
	if err := r.vm.RunAll(); err != nil {
		return fmt.Errorf("trainer: replica %d (%s): %w", r.index, r.device, err)
	}
	return nil
}

// grad returns the gradient of the i-th parameter node, in the replica's backend memory.
func (r *replica) grad(i int) mem {
	return r.b.be.mem(r.grads[i].Value())
}

// bnStats returns the running statistics of the replica's i-th batch-norm op (on the host;
// a GPU replica's are copied there after each step).
func (r *replica) bnStats(i int) (mean, vr []float32) {
	return r.b.bns[i].mean, r.b.bns[i].vr
}

func (r *replica) close() error { return r.vm.Close() }
