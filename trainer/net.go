package trainer

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/natssl/natssl/configs"
)

// net is the model being trained: shared parameters, one replica graph per device, and the
// gather that joins them in the loss.
type net struct {
	model    configs.Model
	size     int
	batch    int   // global images per step
	per      int   // images per replica
	ranks    Ranks // nil: this process alone
	store    *paramStore
	replicas []*replica
	gather   *gather
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
	// to every device.
	update(o *optimizer, lr float64) error
	// pullStats copies every replica's running statistics to its host copy (bnStats);
	// pushStats copies the host copies back.
	pullStats() error
	pushStats() error
	// pull copies the parameters (and o's state, when o is not nil) to the host; push
	// copies them to the devices.
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

// newNet builds one replica per device for a global batch of batch images (2·batch views).
// With opt.ranks, the devices are this rank's, and the world's replicas share the batch.
func newNet(m configs.Model, size, batch int, devices []string, seed int64, temp float64, opt buildOptions) (*net, error) {
	r := len(devices)
	if r == 0 {
		return nil, errors.New("trainer: no devices")
	}
	world, first, localRanks := r, 0, 1
	var exchange func(local, global []float32) error
	if opt.ranks != nil {
		world, first, localRanks = opt.ranks.Size()*r, opt.ranks.Rank()*r, max(1, opt.ranks.LocalSize())
		exchange = opt.ranks.Allgather
	}
	if batch%world != 0 {
		if world != r {
			return nil, fmt.Errorf("trainer: batch %d does not divide over the world's %d replicas (%d ranks × %d devices)", batch, world, world/r, r)
		}
		return nil, fmt.Errorf("trainer: batch %d does not divide over %d replicas", batch, r)
	}
	per := batch / world
	if err := preflight(m, size, batch, sizeOf(opt.ranks), devices, temp, opt); err != nil {
		return nil, err
	}
	bes, ins, dev, err := openDevices(devices, per, size, opt)
	if err != nil {
		return nil, err
	}
	n := &net{model: m, size: size, batch: batch, per: per, ranks: opt.ranks, store: newParamStore(seed),
		gather: newWorldGather(r, world, first, per, m.ProjDim, temp, exchange), dev: dev}
	if dev == nil {
		n.wino = newWinoShare()
	} else {
		opt.noWinograd = true // the GPU's convolutions are im2col and cuBLAS products
	}
	for i, d := range devices {
		rep, err := newReplica(i, d, m, size, per, n.store, n.gather, n.wino, opt, bes[i], ins[i])
		if err != nil {
			n.close()
			return nil, err
		}
		n.replicas = append(n.replicas, rep)
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
// (n.grads on the CPU). views are the batch's two views, batch × 3 × size × size each.
func (n *net) step(ctx context.Context, views [2][]float32) (float64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	per := n.per
	n.gather.reset()
	if n.wino != nil {
		n.wino.update(min(runtime.NumCPU(), len(n.replicas)))
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
