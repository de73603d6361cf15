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
	batch    int // global images per step
	store    *paramStore
	replicas []*replica
	gather   *gather
	params   []*param    // in graph order, identical in every replica
	grads    [][]float32 // summed over replicas after each step, valid until the next
	wino     *winoShare
}

// newNet builds one replica per device for a global batch of batch images (2·batch views).
func newNet(m configs.Model, size, batch int, devices []string, seed int64, temp float64, opt buildOptions) (*net, error) {
	r := len(devices)
	if r == 0 {
		return nil, errors.New("trainer: no devices")
	}
	if batch%r != 0 {
		return nil, fmt.Errorf("trainer: batch %d does not divide over %d replicas", batch, r)
	}
	n := &net{model: m, size: size, batch: batch, store: newParamStore(seed),
		gather: newGather(r, batch/r, m.ProjDim, temp), wino: newWinoShare()}
	for i, dev := range devices {
		rep, err := newReplica(i, dev, m, size, batch/r, n.store, n.gather, n.wino, opt)
		if err != nil {
			n.close()
			return nil, err
		}
		n.replicas = append(n.replicas, rep)
	}
	// Each replica keeps a core busy; the BLAS may use the cores left over.
	setBLASThreads(max(1, runtime.NumCPU()/r))
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
	per := n.batch / len(n.replicas)
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
	// the first replica's buffers (rewritten by its next step), is the gradient.
	for i := range n.params {
		dst := n.replicas[0].grad(i)
		for _, r := range n.replicas[1:] {
			add(dst, r.grad(i))
		}
		n.grads[i] = dst
	}
	n.syncBN()
	return n.gather.loss, nil
}

// syncBN averages the replicas' running statistics into the store and back into every
// replica, so that all replicas (and checkpoints) hold the same statistics.
func (n *net) syncBN() {
	for i, st := range n.replicas[0].b.bnSt {
		for c := range st.mean {
			var m, v float32
			for _, r := range n.replicas {
				rm, rv := r.bnStats(i)
				m += rm[c]
				v += rv[c]
			}
			st.mean[c] = m / float32(len(n.replicas))
			st.vr[c] = v / float32(len(n.replicas))
		}
		if len(n.replicas) > 1 {
			for _, r := range n.replicas {
				rm, rv := r.bnStats(i)
				copy(rm, st.mean)
				copy(rv, st.vr)
			}
		}
	}
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
