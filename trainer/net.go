package trainer

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/natssl/natssl/configs"
)

// net is the model being trained: shared parameters, one replica graph per device, the
// target network when the method has one, and the gather that joins them in the loss.
type net struct {
	model    configs.Model
	size     int
	batch    int   // global images per step
	per      int   // images per replica
	ranks    Ranks // nil: this process alone
	spec     netSpec
	store    *paramStore
	replicas []*replica
	gather   *gather
	target   *target     // nil: the method has none
	params   []*param    // in graph order, identical in every replica
	grads    [][]float32 // summed over replicas after each step, valid until the next
	wino     *winoShare
}

// netSpec is what a net is built for: the model, the method, and the views of each image.
type netSpec struct {
	model      configs.Model
	method     configs.Method
	predHidden int     // BYOL's predictor width
	temp       float64 // SimCLR's temperature
	groups     []viewGroup
	batch      int      // global images per step, over every replica of the world
	devices    []string // this process's
	seed       int64
}

// viewGroup is count views of size × size pixels per image; the first group's are the global
// views.
type viewGroup struct{ size, count int }

// specOf is the net cfg trains, on cfg's devices.
func specOf(cfg *configs.Config) netSpec {
	s := netSpec{model: cfg.Model, method: cfg.Method, predHidden: cfg.PredictorHidden(), temp: cfg.Train.Temperature,
		batch: cfg.Data.BatchSize, devices: cfg.Train.Devices, seed: cfg.Run.Seed}
	for _, g := range cfg.ViewGroups() {
		s.groups = append(s.groups, viewGroup{g.Size, g.Count})
	}
	return s
}

// views is the number of views of each image.
func (s netSpec) views() int {
	v := 0
	for _, g := range s.groups {
		v += g.count
	}
	return v
}

// newNet builds SimCLR on two views of size for a global batch of batch images.
func newNet(m configs.Model, size, batch int, devices []string, seed int64, temp float64, opt buildOptions) (*net, error) {
	return newSpecNet(netSpec{model: m, method: configs.Method{Name: "simclr"}, temp: temp,
		groups: []viewGroup{{size, 2}}, batch: batch, devices: devices, seed: seed}, opt)
}

// newSpecNet builds one replica per device of spec's method and views.
func newSpecNet(spec netSpec, opt buildOptions) (*net, error) {
	r := len(spec.devices)
	if r == 0 {
		return nil, errors.New("trainer: no devices")
	}
	world, first, localRanks := r, 0, 1
	var exchange func(local, global []float32) error
	if opt.ranks != nil {
		world, first, localRanks = opt.ranks.Size()*r, opt.ranks.Rank()*r, max(1, opt.ranks.LocalSize())
		exchange = opt.ranks.Allgather
	}
	if spec.batch%world != 0 {
		if world != r {
			return nil, fmt.Errorf("trainer: batch %d does not divide over the world's %d replicas (%d ranks × %d devices)", spec.batch, world, world/r, r)
		}
		return nil, fmt.Errorf("trainer: batch %d does not divide over %d replicas", spec.batch, r)
	}
	if len(spec.groups) == 0 || spec.groups[0].count < 2 {
		return nil, fmt.Errorf("trainer: views %v: want a first group of at least 2 global views", spec.groups)
	}
	m := spec.model
	per := spec.batch / world
	// The layout is the world's: every loss spans the replicas of every rank.
	lay := layout{replicas: world, n: per, views: spec.views(), global: spec.groups[0].count, dOnline: m.ProjDim}
	n := &net{model: m, size: spec.groups[0].size, batch: spec.batch, per: per, ranks: opt.ranks, spec: spec,
		store: newParamStore(spec.seed), wino: newWinoShare()}
	switch spec.method.Name {
	case "byol":
		n.target = newTarget(spec.seed, spec.method.TauBase, spec.method.TauFinal)
	case "moco":
		n.target = newTarget(spec.seed, spec.method.Momentum, spec.method.MomentumFinal)
	}
	if n.target != nil {
		lay.dTarget = m.ProjDim
	}
	obj, err := newObjective(spec, lay)
	if err != nil {
		return nil, err
	}
	n.gather = newWorldGather(r, first, lay, obj, exchange)
	for i, dev := range spec.devices {
		rep, err := newReplica(i, dev, spec, per, n.store, n.target, n.gather, n.wino, opt)
		if err != nil {
			n.close()
			return nil, err
		}
		n.replicas = append(n.replicas, rep)
	}
	if n.target != nil {
		if err := n.target.bind(n.store); err != nil {
			n.close()
			return nil, err
		}
	}
	// Each replica keeps a core busy; the BLAS may use the cores left over by the replicas of
	// every rank on this machine.
	setBLASThreads(max(1, runtime.NumCPU()/(r*localRanks)))
	n.params = n.replicas[0].b.params
	n.grads = make([][]float32, len(n.params))
	return n, nil
}

// step runs forward and backward on every replica in parallel, each on its share of the
// batch, and leaves the gradient of the global loss in n.grads. views are the batch's views
// (the spec's groups in order), batch × 3 × size × size each.
func (n *net) step(ctx context.Context, views [][]float32) (float64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if len(views) != n.spec.views() {
		return 0, fmt.Errorf("trainer: a batch of %d views; the model takes %d", len(views), n.spec.views())
	}
	per := n.per
	n.gather.reset()
	n.wino.update(min(runtime.NumCPU(), len(n.replicas)))
	if n.target != nil {
		n.target.wino.update(min(runtime.NumCPU(), len(n.replicas)))
	}
	errs := make([]error, len(n.replicas))
	var wg sync.WaitGroup
	for i, r := range n.replicas {
		r.setInput(views, i*per)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.run(); err != nil {
				errs[i] = err
				n.gather.abort()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, errAborted) {
			return 0, err
		}
	}
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	// Each replica's gradient is its share of the global mean loss: their sum, taken in
	// the first replica's buffers (rewritten by its next step), is the gradient. Over ranks,
	// each rank's sum is then added in rank order: (r0a + r0b) + (r1a + r1b) + ...
	for i := range n.params {
		dst := n.replicas[0].grad(i)
		for _, r := range n.replicas[1:] {
			add(dst, r.grad(i))
		}
		n.grads[i] = dst
	}
	if n.ranks != nil {
		if err := n.ranks.Sum(n.grads...); err != nil {
			return 0, fmt.Errorf("trainer: sum the gradients over the ranks: %w", err)
		}
	}
	if err := n.syncBN(); err != nil {
		return 0, err
	}
	return n.gather.loss, nil
}

// updated is what follows the optimizer's update of step k (0-based) of total: the target
// network's EMA step, and the objective's state (MoCo's queue takes the step's keys).
func (n *net) updated(k, total int64) {
	if n.target != nil {
		n.target.update(k, total)
	}
	if c, ok := n.gather.obj.(committer); ok {
		c.commit()
	}
}

// syncBN averages the replicas' running statistics into the store and back into every
// replica, so that all replicas (and checkpoints) hold the same statistics. Over ranks, each
// rank's replica sums are added in rank order before the division by the world's replicas,
// as the gradients are.
func (n *net) syncBN() error {
	div := float32(len(n.replicas))
	if n.ranks != nil {
		div = float32(len(n.replicas) * n.ranks.Size())
	}
	var sums [][]float32
	for i, st := range n.replicas[0].b.bnSt {
		for c := range st.mean {
			var m, v float32
			for _, r := range n.replicas {
				rm, rv := r.bnStats(i)
				m += rm[c]
				v += rv[c]
			}
			st.mean[c], st.vr[c] = m, v
		}
		sums = append(sums, st.mean, st.vr)
	}
	if n.ranks != nil {
		if err := n.ranks.Sum(sums...); err != nil {
			return fmt.Errorf("trainer: sum the batch-norm statistics over the ranks: %w", err)
		}
	}
	for i, st := range n.replicas[0].b.bnSt {
		for c := range st.mean {
			st.mean[c] /= div
			st.vr[c] /= div
		}
		if len(n.replicas) > 1 || n.ranks != nil {
			for _, r := range n.replicas {
				rm, rv := r.bnStats(i)
				copy(rm, st.mean)
				copy(rv, st.vr)
			}
		}
	}
	return nil
}

// loadBNStats pushes the store's statistics into every replica (after a restore).
func (n *net) loadBNStats() {
	for _, r := range n.replicas {
		r.b.loadBNStats()
	}
}

func (n *net) close() error {
	var errs []error
	for _, r := range n.replicas {
		errs = append(errs, r.close())
	}
	return errors.Join(errs...)
}
