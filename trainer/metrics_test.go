package trainer

import (
	"context"
	"sync"
	"testing"
)

// rowTracker keeps the metric rows a run logs.
type rowTracker struct {
	mu   sync.Mutex
	rows []loggedRow
}

type loggedRow struct {
	step   int64
	values map[string]float64
}

func (r *rowTracker) LogMetrics(_ context.Context, step int64, values map[string]float64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, loggedRow{step, values})
	return nil
}

func (r *rowTracker) RecordCheckpoint(context.Context, int64, string, string, int64) error {
	return nil
}

func (r *rowTracker) ForgetCheckpoint(context.Context, string) error { return nil }

// TestLastStepLogged: whatever ends a run (its last step, the time limit, a signal, a NaN loss),
// the tracker's last row is the last step trained, with that step's loss beside the window's
// mean, even when the run stops between two train.log_every rows.
func TestLastStepLogged(t *testing.T) {
	tests := []struct {
		name     string
		steps    int
		limit    bool  // stop by train.time_limit after the first step
		cancelAt int64 // cancel the context after this step
		nanAt    int64 // the batch delivered as this number is NaN
		want     int64 // the last step logged
	}{
		{"last step", 7, false, 0, 0, 7},
		{"time limit after one step", 1000, true, 0, 0, 1},
		{"signal at step 4", 1000, false, 4, 0, 4},
		{"NaN at step 5", 1000, false, 0, 5, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tinyConfig()
			cfg.Train.Steps = tt.steps
			cfg.Train.LogEvery = 10
			cfg.Train.CheckpointEvery = 0
			if tt.limit {
				cfg.Train.TimeLimit = 1
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tr := &rowTracker{}
			var losses []float64
			res, _ := Train(ctx, Options{Config: cfg, Tracker: tr, CheckpointDir: t.TempDir(),
				Source: &synthSource{batch: 8, size: 8, seed: 1, perEpoch: 64, nan: tt.nanAt},
				OnStep: func(s StepInfo) {
					losses = append(losses, s.Loss)
					if s.Step == tt.cancelAt {
						cancel()
					}
				}})
			if res == nil || res.Step != tt.want {
				t.Fatalf("result %+v, want step %d", res, tt.want)
			}
			if len(tr.rows) == 0 {
				t.Fatal("no metrics logged")
			}
			last := tr.rows[len(tr.rows)-1]
			if last.step != tt.want {
				t.Fatalf("last row at step %d, want %d", last.step, tt.want)
			}
			mean := 0.0
			for _, l := range losses[:tt.want] {
				mean += l
			}
			mean /= float64(tt.want)
			if got := last.values["loss_last"]; got != losses[tt.want-1] {
				t.Errorf("loss_last %v, want the last step's %v", got, losses[tt.want-1])
			}
			if got := last.values["loss"]; !(got > mean-1e-9 && got < mean+1e-9) {
				t.Errorf("loss %v, want the mean of the window %v", got, mean)
			}
		})
	}
}

// TestLastStepWithHooks: a run stopped by train.time_limit between two train.log_every rows
// logs its last step once with the hooks' metrics (the monitor's last row) and once with the
// training window's, no key twice, so that neither replaces the other.
func TestLastStepWithHooks(t *testing.T) {
	cfg := tinyConfig()
	cfg.Train.Steps, cfg.Train.LogEvery, cfg.Train.CheckpointEvery = 1000, 10, 0
	cfg.Train.TimeLimit = 1
	tr := &rowTracker{}
	hook := Hook{Every: 100, Run: func(_ context.Context, p *HookPoint) (map[string]float64, error) {
		return map[string]float64{"monitor/knn_top1": float64(p.Step)}, nil
	}}
	res, err := Train(context.Background(), Options{Config: cfg, Tracker: tr, CheckpointDir: t.TempDir(),
		Source: &synthSource{batch: 8, size: 8, seed: 1, perEpoch: 64}, Hooks: []Hook{hook}})
	if err != nil || res.Step != 1 {
		t.Fatalf("result %+v, %v; want one step", res, err)
	}
	seen := map[string]int{}
	for _, r := range tr.rows {
		if r.step != res.Step {
			continue
		}
		for k := range r.values {
			seen[k]++
		}
	}
	for _, k := range []string{"monitor/knn_top1", "loss", "loss_last", "images_per_s"} {
		if seen[k] != 1 {
			t.Errorf("%s logged %d times at the last step, want once (rows %+v)", k, seen[k], tr.rows)
		}
	}
}
