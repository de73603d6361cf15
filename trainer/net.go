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
	grads    [][]float32 // CPU: summed over replicas after each step, valid until the next
	wino     *winoShare
	dev      deviceNet // the GPUs' part of the step; nil on the CPU
}

// deviceNet is what a net on GPUs does beside the shared step, where its numbers live in
// device memory: it sums the replicas' gradients and updates the parameters on the devices,
// and copies the model between the devices and the host store.
type deviceNet interface {
	// place uploads the store's parameters and statistics once the replicas are built.
	place(n *net) error
	// sumGrads adds every replica's gradients, in replica order, into the first's.
	sumGrads() error
	// sumRanks replaces that sum by its sum over the ranks (Ranks.Sum, on the host).
	sumRanks(r Ranks) error
	// update takes the optimizer step on the summed gradients and hands the new parameters
	// to every device; targetStep then moves the target network on every device by
	// ξ ← τξ + (1 − τ)θ.
	update(o *optimizer, lr float64) error
	targetStep(t *target, tau float64) error
	// pullStats copies every replica's running statistics to its host copy (bnStats);
	// pushStats copies the host copies back.
	pullStats() error
	pushStats() error
	// pull copies the parameters, the target network's (when there is one) and o's state
	// (when o is not nil) to the host; push copies them to the devices.
	pull(o *optimizer) error
	push(o *optimizer) error
	// hostGrads returns the summed gradients of the last step on the host.
	hostGrads() ([][]float32, error)
	// sync waits for the devices' work; sgemmGFLOPS measures the devices' BLAS on one
	// product per replica at once, and names it.
	sync() error
	sgemmGFLOPS() (float64, string, error)
	close() error
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
	if err := preflight(spec, sizeOf(opt.ranks), opt); err != nil {
		return nil, err
	}
	bes, ins, dev, err := openDevices(spec, per, opt)
	if err != nil {
		return nil, err
	}
	// The layout is the world's: every loss spans the replicas of every rank.
	lay := layout{replicas: world, n: per, views: spec.views(), global: spec.groups[0].count, dOnline: m.ProjDim}
	n := &net{model: m, size: spec.groups[0].size, batch: spec.batch, per: per, ranks: opt.ranks, spec: spec,
		store: newParamStore(spec.seed), dev: dev}
	if dev == nil {
		n.wino = newWinoShare()
	} else {
		opt.noWinograd = true // the GPU's convolutions are im2col and cuBLAS products
	}
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
		if dev != nil {
			dev.close()
		}
		return nil, err
	}
	n.gather = newWorldGather(r, first, lay, obj, exchange)
	for i, d := range spec.devices {
		rep, err := newReplica(i, d, spec, per, n.store, n.target, n.gather, n.wino, opt, bes[i], ins[i])
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
	n.params = n.replicas[0].b.params
	if dev != nil {
		if err := dev.place(n); err != nil {
			n.close()
			return nil, err
		}
		return n, nil
	}
	// Each replica keeps a core busy; the BLAS may use the cores left over by the replicas of
	// every rank on this machine.
	setBLASThreads(max(1, runtime.NumCPU()/(r*localRanks)))
	n.grads = make([][]float32, len(n.params))
	return n, nil
}

// step runs forward and backward on every replica in parallel, each on its share of the
// batch, and leaves the gradient of the global loss summed in the first replica's buffers
// (n.grads on the CPU). views are the batch's views (the spec's groups in order), batch × 3 ×
// size × size each.
func (n *net) step(ctx context.Context, views [][]float32) (float64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if len(views) != n.spec.views() {
		return 0, fmt.Errorf("trainer: a batch of %d views; the model takes %d", len(views), n.spec.views())
	}
	per := n.per
	n.gather.reset()
	if n.wino != nil {
		n.wino.update(min(runtime.NumCPU(), len(n.replicas)))
	}
	if n.target != nil && n.target.wino != nil {
		n.target.wino.update(min(runtime.NumCPU(), len(n.replicas)))
	}
	errs := make([]error, len(n.replicas))
	var wg sync.WaitGroup
	for i, r := range n.replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := r.in.set(views, i*per)
			if err == nil {
				err = r.run()
			}
			if err != nil {
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
	// each rank's sum is then added in rank order: (r0a + r0b) + (r1a + r1b) + ...; a GPU's
	// sum travels through the host for it.
	if n.dev != nil {
		if err := n.dev.sumGrads(); err != nil {
			return 0, err
		}
	} else {
		for i := range n.params {
			dst := n.replicas[0].grad(i).h
			for _, r := range n.replicas[1:] {
				add(dst, r.grad(i).h)
			}
			n.grads[i] = dst
		}
	}
	if n.ranks != nil {
		var err error
		if n.dev != nil {
			err = n.dev.sumRanks(n.ranks)
		} else {
			err = n.ranks.Sum(n.grads...)
		}
		if err != nil {
			return 0, fmt.Errorf("trainer: sum the gradients over the ranks: %w", err)
		}
	}
	if err := n.syncBN(); err != nil {
		return 0, err
	}
	return n.gather.loss, nil
}

// update takes the optimizer step with learning rate lr on the last step's gradients.
func (n *net) update(o *optimizer, lr float64) error {
	if n.dev != nil {
		return n.dev.update(o, lr)
	}
	o.step(n.params, n.grads, lr)
	return nil
}

// updated is what follows the optimizer's update of step k (0-based) of total: the target
// network's EMA step (where the parameters live: on the GPUs, by their kernels), and the
// objective's state (MoCo's queue, on the host, takes the step's keys).
func (n *net) updated(k, total int64) error {
	if n.target != nil {
		if n.dev != nil {
			if err := n.dev.targetStep(n.target, n.target.tau(k, total)); err != nil {
				return err
			}
		} else {
			n.target.update(k, total)
		}
	}
	if c, ok := n.gather.obj.(committer); ok {
		c.commit()
	}
	return nil
}

// syncBN averages the replicas' running statistics into the store and back into every
// replica, so that all replicas (and checkpoints) hold the same statistics. Over ranks, each
// rank's replica sums are added in rank order before the division by the world's replicas,
// as the gradients are. A GPU's statistics are copied to the host first, and back after.
func (n *net) syncBN() error {
	if n.dev != nil {
		if err := n.dev.pullStats(); err != nil {
			return err
		}
	}
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
	if n.dev != nil && (len(n.replicas) > 1 || n.ranks != nil) {
		return n.dev.pushStats()
	}
	return nil
}

// loadBNStats pushes the store's statistics into every replica (after a restore).
func (n *net) loadBNStats() error {
	for _, r := range n.replicas {
		r.b.loadBNStats()
	}
	if n.dev != nil {
		return n.dev.pushStats()
	}
	return nil
}

// pull brings the parameters, and o's state when o is not nil, to the host store from the
// devices (on the CPU they are there); push takes them to the devices. The running
// statistics are on the host after every step.
func (n *net) pull(o *optimizer) error {
	if n.dev == nil {
		return nil
	}
	return n.dev.pull(o)
}

func (n *net) push(o *optimizer) error {
	if n.dev == nil {
		return nil
	}
	return n.dev.push(o)
}

// hostGrads returns the summed gradients of the last step on the host.
func (n *net) hostGrads() ([][]float32, error) {
	if n.dev == nil {
		return n.grads, nil
	}
	return n.dev.hostGrads()
}

// sync waits until the devices have done the work queued so far.
func (n *net) sync() error {
	if n.dev == nil {
		return nil
	}
	return n.dev.sync()
}

func (n *net) close() error {
	var errs []error
	for _, r := range n.replicas {
		errs = append(errs, r.close())
	}
	if n.dev != nil {
		errs = append(errs, n.dev.close())
	}
	return errors.Join(errs...)
}
