package trainer

import (
	"context"
	"fmt"
	"maps"
	"time"
)

// Hook is work done between two training steps on a still model: the online monitor, which
// scores a snapshot of the encoder while the run trains. Hooks run on the training goroutine
// after the optimizer update of every Every-th step, once before the first step of a fresh
// run (step 0), and after the last step (train.steps, or the one that reaches
// train.time_limit); a resumed run goes on at the next multiple of Every. Training waits for
// them, and the time they take is left out of the run's elapsed time, its images/s and
// train.time_limit, so that a run with hooks takes the same steps as one without.
type Hook struct {
	Every int64 // steps; a hook with Every <= 0 never runs
	// Run does the work and returns metrics, which are logged with the tracker at the step and
	// passed to OnStep in StepInfo.Metrics. An error ends training, unless ctx was cancelled
	// (a signal): training then stops as cancelled, with its checkpoint.
	Run func(ctx context.Context, at *HookPoint) (map[string]float64, error)
}

// HookPoint is where training stands when a hook runs.
type HookPoint struct {
	Step, Total int64
	net         *net
}

// Encoder returns the backbone after Step steps in evaluation mode (batch norm with its
// running statistics): a copy of the parameters and statistics, so that nothing done with it
// reaches training. It takes one copy of the model per call.
func (p *HookPoint) Encoder() *Encoder { return p.net.snapshotEncoder() }

// snapshotEncoder copies the model's parameters and running statistics (which the replicas
// share, and syncBN has averaged after the step: what a checkpoint would hold) into an
// encoder. A model on GPUs has been pulled to the host store before the hooks run.
func (n *net) snapshotEncoder() *Encoder {
	return &Encoder{model: n.model, size: n.size, store: n.store.clone(), graphs: map[[2]int]*evalGraph{}}
}

// runHooks runs the hooks due after t.step (every hook after the last step) and logs their
// metrics. It returns the metrics (nil when no hook ran) and the time the hooks took.
func (t *training) runHooks(ctx context.Context, last bool) (map[string]float64, time.Duration, error) {
	start := time.Now()
	var out map[string]float64
	pulled := false
	for _, h := range t.opt.Hooks {
		if h.Every <= 0 || t.step%h.Every != 0 && !last {
			continue
		}
		if !pulled { // the parameters of a GPU's model to the host, once
			if err := t.net.pull(nil); err != nil {
				return nil, 0, fmt.Errorf("trainer: step %d: %w", t.step, err)
			}
			pulled = true
		}
		m, err := h.Run(ctx, &HookPoint{Step: t.step, Total: t.total, net: t.net})
		if err != nil {
			if ctx.Err() != nil {
				break // the loop stops as cancelled at its next check
			}
			return nil, 0, fmt.Errorf("trainer: step %d: %w", t.step, err)
		}
		if out == nil {
			out = map[string]float64{}
		}
		maps.Copy(out, m)
	}
	if len(out) > 0 {
		if err := t.logMetrics(context.WithoutCancel(ctx), out); err != nil {
			return nil, 0, err
		}
	}
	return out, time.Since(start), nil
}

// hooksAtStart runs the hooks on the initial model of a fresh run and shows what they found
// as step 0.
func (t *training) hooksAtStart(ctx context.Context) error {
	if t.step != 0 || len(t.opt.Hooks) == 0 {
		return nil
	}
	m, _, err := t.runHooks(ctx, false)
	if err != nil {
		return err
	}
	if m != nil && t.opt.OnStep != nil {
		t.opt.OnStep(StepInfo{Step: 0, Total: t.total, Epoch: t.epoch, Metrics: m})
	}
	return nil
}
