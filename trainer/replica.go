package trainer

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// replica is one data-parallel copy of the training graph: the online encoder (one backbone op
// per crop size, sharing parameters), its head (and BYOL's predictor), the target network when
// the method has one, and the loss, on its own tape machine, computing through its device's
// backend. Its parameter nodes share their values with every other replica of the same device.
type replica struct {
	index  int
	device string
	n      int // images per replica per step
	g      *G.ExprGraph
	groups []viewGroup
	in     replicaInput
	b      *builder   // the online network: the global views' backbone, head, predictor
	extra  []*builder // the other crop sizes' backbones (parameter nodes of their own names)
	tb     *builder   // the target network, or nil
	grads  G.Nodes    // of b.nodes
	// shares are the extra backbones' gradients, each added after the pass into the gradient
	// of the parameter it shares, in crop-size order.
	shares []gradShare
	vm     G.VM
}

// gradShare is an extra backbone's gradient node of the i-th parameter of b.
type gradShare struct {
	i    int
	grad *G.Node
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
	values() []G.Value // what each view group's input node holds
	// set copies images [lo, lo+n) of every view in: a group's input holds its first view's
	// n images, then its second's, and so on.
	set(views [][]float32, lo int) error
}

// hostInput is a CPU replica's input: per view group, its views × n images × 3 × size × size.
type hostInput struct {
	n      int
	groups []viewGroup
	xs     [][]float32
	ts     []G.Value
}

func newHostInput(n int, groups []viewGroup) *hostInput {
	h := &hostInput{n: n, groups: groups}
	for _, grp := range groups {
		rows, s := grp.count*n, grp.size
		data := make([]float32, rows*3*s*s)
		h.xs = append(h.xs, data)
		h.ts = append(h.ts, tensor.New(tensor.WithShape(rows, 3, s, s), tensor.WithBacking(data)))
	}
	return h
}

func (h *hostInput) values() []G.Value { return h.ts }

func (h *hostInput) set(views [][]float32, lo int) error {
	v := 0
	for i, grp := range h.groups {
		per := 3 * grp.size * grp.size
		for j := range grp.count {
			copy(h.xs[i][j*h.n*per:(j+1)*h.n*per], views[v][lo*per:(lo+h.n)*per])
			v++
		}
	}
	return nil
}

func newReplica(index int, device string, spec netSpec, n int, store *paramStore, tgt *target, ga *gather, wino *winoShare, opt buildOptions, be backend, in replicaInput) (*replica, error) {
	g := G.NewGraph()
	r := &replica{index: index, device: device, n: n, g: g, groups: spec.groups, in: in}
	var xs []*G.Node
	for i, v := range in.values() {
		rows, s := spec.groups[i].count*n, spec.groups[i].size
		xs = append(xs, G.NewTensor(g, tensor.Float32, 4, G.WithShape(rows, 3, s, s), G.WithName(fmt.Sprintf("x%d", i)), G.WithValue(v)))
	}
	m := spec.model
	online := func(st *paramStore, prefix string) *builder {
		return &builder{g: g, store: st, be: be, train: true, prefix: prefix, noBN: opt.noBN, winograd: !opt.noWinograd, wino: wino}
	}
	r.b = online(store, "")
	feat, err := r.b.encoder(m, xs[0])
	if err != nil {
		return nil, err
	}
	feats := []*G.Node{feat}
	// Each other crop size's backbone reads the same parameters through nodes of its own
	// names: Gorgonia would merge nodes of one name and sum their gradients with its own
	// addition, on the host; the backend sums them after the pass instead (run).
	for i, x := range xs[1:] {
		eb := online(store, fmt.Sprintf("crop%d/", i+1))
		f, err := eb.encoder(m, x)
		if err != nil {
			return nil, err
		}
		// Every size's batch norm moves the same running statistics, one after the other.
		for k, l := range eb.bns {
			be.bnShare(l, r.b.bns[k])
		}
		r.extra = append(r.extra, eb)
		feats = append(feats, f)
	}
	z := r.b.projector(spec.method.Name, m, concatRows(be, feats))
	if spec.method.Name == "byol" {
		z = r.b.predictor(z, spec.predHidden)
	}
	inputs := G.Nodes{z}
	if tgt != nil {
		r.tb = &builder{g: g, store: tgt.store, be: be, stats: true, prefix: "target/", noBN: opt.noBN, winograd: !opt.noWinograd, wino: tgt.wino}
		tf, err := r.tb.encoder(m, xs[0])
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, r.tb.projector(spec.method.Name, m, tf))
	}
	cost, err := G.ApplyOp(&lossOp{g: ga, r: index, target: tgt != nil, be: be}, inputs...)
	if err != nil {
		return nil, fmt.Errorf("trainer: replica %d: loss: %w", index, err)
	}
	wrt := append(G.Nodes(nil), r.b.nodes...)
	at := map[*param]int{}
	for i, p := range r.b.params {
		at[p] = i
	}
	for _, eb := range r.extra {
		for j, p := range eb.params {
			i, ok := at[p]
			if !ok {
				return nil, fmt.Errorf("trainer: replica %d: crop-size backbone parameter %s is not the global views' backbone's", index, p.name)
			}
			r.shares = append(r.shares, gradShare{i: i})
			wrt = append(wrt, eb.nodes[j])
		}
	}
	grads, err := G.Grad(cost, wrt...)
	if err != nil {
		return nil, fmt.Errorf("trainer: replica %d: gradients: %w", index, err)
	}
	r.grads = grads[:len(r.b.nodes)]
	for k := range r.shares {
		r.shares[k].grad = grads[len(r.b.nodes)+k]
	}
	if err := be.built(r.b.bns); err != nil {
		return nil, fmt.Errorf("trainer: replica %d (%s): %w", index, device, err)
	}
	r.b.loadBNStats()
	if r.tb != nil {
		r.tb.loadBNStats()
	}
	r.vm = G.NewTapeMachine(g)
	return r, nil
}

// run does forward and backward, and adds the other crop sizes' gradients into the shared
// parameters'; the gradients are then readable with grad.
func (r *replica) run() error {
	r.vm.Reset()
	if err := r.vm.RunAll(); err != nil {
		return fmt.Errorf("trainer: replica %d (%s): %w", r.index, r.device, err)
	}
	be := r.b.be
	for _, s := range r.shares {
		be.add(r.grad(s.i), be.mem(s.grad.Value()))
	}
	if err := be.err(); err != nil {
		return fmt.Errorf("trainer: replica %d (%s): crop sizes' gradients: %w", r.index, r.device, err)
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

// flops is the multiply-adds ×2 of one step's convolutions and linear layers.
func (r *replica) flops() float64 {
	f := r.b.flops
	for _, eb := range r.extra {
		f += eb.flops
	}
	if r.tb != nil {
		f += r.tb.flops / 3 // counted as forward and backward; the target only runs forward
	}
	return f
}

func (r *replica) close() error { return r.vm.Close() }
