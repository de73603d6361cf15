package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"strings"
	"time"

	"github.com/natssl/natssl/augment"
	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments/metric"
	"github.com/natssl/natssl/loader"
	"github.com/natssl/natssl/probe"
	"github.com/natssl/natssl/trainer"
)

// monitor scores the encoder while a run trains (eval.monitor_every): on a snapshot of the
// parameters in evaluation mode, the weighted kNN top-1 of its labelled set (each image
// classified by the others, leave one out; cosine, k = 20, temperature 0.07) and the NeWT
// probe's mean accuracy on a few tasks of its suite. It runs as a trainer hook, between steps
// on the training goroutine, with every core: training waits for it (on 2 cores a monitor
// beside the replicas would slow every step it overlaps) and its time is left out of the run's
// clock. The sets are read, checked and held in memory (encoded) once, before training.
type monitor struct {
	every      int64
	size       int
	classifier probe.Classifier
	knn        *knnSet // nil: no kNN score
	newt       *suite  // nil: no NeWT score
	workers    []*augment.Worker
	obs        Observer
}

// newMonitor loads cfg's monitor sets; it returns nil when eval.monitor_every is 0. A set that
// cannot be read refuses the run before it trains.
func newMonitor(ctx context.Context, cfg *configs.Config, obs Observer) (*monitor, error) {
	e := cfg.Eval
	if e.MonitorEvery <= 0 {
		return nil, nil
	}
	kind, err := probe.ParseClassifier(e.Classifier)
	if err != nil {
		return nil, err
	}
	pipe, err := augment.New(cfg.Augment, e.ImageSize)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	m := &monitor{every: int64(e.MonitorEvery), size: e.ImageSize, classifier: kind, obs: obs}
	for range runtime.NumCPU() {
		m.workers = append(m.workers, pipe.NewWorker())
	}
	var what []string
	if e.MonitorKNN != "" {
		if m.knn, err = loadKNNSet(ctx, cfg, m.workers[0], obs); err != nil {
			m.close()
			return nil, err
		}
		what = append(what, fmt.Sprintf("kNN top-1 on %d images of %d classes (%s)", len(m.knn.ids), m.knn.classes, e.MonitorKNN))
	}
	if e.MonitorNewtTasks > 0 {
		if m.newt, err = loadMonitorSuite(ctx, cfg, m.workers[0], obs); err != nil {
			m.close()
			return nil, err
		}
		names := make([]string, len(m.newt.Tasks))
		for i, t := range m.newt.Tasks {
			names[i] = t.Name
		}
		what = append(what, fmt.Sprintf("NeWT probe on %d tasks (%s)", len(names), strings.Join(names, ", ")))
	}
	obs.Notice(fmt.Sprintf("monitor every %d steps: %s; sets read in %.1fs", m.every, strings.Join(what, "; "), time.Since(start).Seconds()))
	return m, nil
}

// monitorInputError adds to an error about a monitor set that does not exist the key that
// names it, where its value came from, and what to do.
func monitorInputError(cfg *configs.Config, key string, err error) error {
	if !errors.Is(err, loader.ErrNoSource) && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	v, _ := cfg.Get(key)
	return fmt.Errorf("%w\n  %s is %q (from %s): point it at the monitor's set, or train without the monitor: --set eval.monitor_every=0",
		err, key, v, cfg.Origin(key))
}

func (m *monitor) close() {
	if m == nil {
		return
	}
	for _, w := range m.workers {
		w.Close()
	}
}

// hook is the monitor as a trainer hook.
func (m *monitor) hook() trainer.Hook {
	return trainer.Hook{Every: m.every, Run: func(ctx context.Context, at *trainer.HookPoint) (map[string]float64, error) {
		return m.run(ctx, at.Step, at.Encoder())
	}}
}

// run scores enc, the model after step. A monitor that fails is reported and training goes
// on: the next monitor tries again.
func (m *monitor) run(ctx context.Context, step int64, enc *trainer.Encoder) (map[string]float64, error) {
	start := time.Now()
	vals, err := m.score(ctx, enc)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		m.obs.Notice(fmt.Sprintf("monitor at step %d failed; training goes on: %v", step, err))
		return nil, nil
	}
	vals[metric.MonitorSeconds] = time.Since(start).Seconds()
	return vals, nil
}

// score computes the monitor's metrics for enc, which it owns.
func (m *monitor) score(ctx context.Context, enc *trainer.Encoder) (map[string]float64, error) {
	ws := make([]probe.Worker, len(m.workers))
	for i, w := range m.workers {
		e := enc
		if i > 0 {
			var err error
			if e, err = enc.Clone(); err != nil {
				return nil, err
			}
		}
		ws[i] = probe.Worker{Encoder: e, Preprocessor: w}
	}
	opt := probe.ExtractOptions{ImageSize: m.size, Workers: ws}
	out := map[string]float64{}
	if m.knn != nil {
		f, err := probe.Extract(ctx, m.knn.ids, m.knn.images, opt)
		if err != nil {
			return nil, err
		}
		pred, err := probe.KNN(ctx, f.Data, m.knn.labels, f.Data, f.Dim, probe.KNNOptions{LeaveOneOut: true})
		if err != nil {
			return nil, err
		}
		out[metric.MonitorKNN] = probe.Top1(pred, m.knn.labels)
	}
	if m.newt != nil {
		f, err := probe.Extract(ctx, m.newt.IDs, m.newt.images, opt)
		if err != nil {
			return nil, err
		}
		res, err := probe.Evaluate(ctx, m.newt.Suite, f, probe.Options{Classifier: m.classifier, Folds: monitorFolds, Workers: len(m.workers)})
		if err != nil {
			return nil, err
		}
		out[metric.MonitorNeWT] = res.Mean
	}
	return out, nil
}
