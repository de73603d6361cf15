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
	grads    [][]float32 // summed over replicas after each step, valid until the next
	wino     *winoShare
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
	n := &net{model: m, size: size, batch: batch, per: per, ranks: opt.ranks, store: newParamStore(seed),
		gather: newWorldGather(r, world, first, per, m.ProjDim, temp, exchange), wino: newWinoShare()}
	for i, dev := range devices {
		rep, err := newReplica(i, dev, m, size, per, n.store, n.gather, n.wino, opt)
		if err != nil {
			n.close()
			return nil, err
		}
		n.replicas = append(n.replicas, rep)
	}
	// Each replica keeps a core busy; the BLAS may use the cores left over by the replicas of
	// every rank on this machine.
	setBLASThreads(max(1, runtime.NumCPU()/(r*localRanks)))
	n.params = n.replicas[0].b.params
	n.grads = make([][]float32, len(n.params))
	return n, nil
}

// step runs forward and backward on every replica in parallel, each on its share of the
// batch, and leaves the gradient of the global loss in n.grads. views are the batch's two
// views, batch × 3 × size × size each.
func (n *net) step(ctx context.Context, views [2][]float32) (float64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	per := n.per
	n.gather.reset()
	n.wino.update(min(runtime.NumCPU(), len(n.replicas)))
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
