package sweep

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/experiments/metric"
)

// stepWorker stands in for natssl's training and probe in these tests of the sweep's own
// logic (what to run, skip and continue): it writes to the real tracker what a run of
// cfg.Train.Steps steps would (metrics at 1 s a step, checkpoints, the run's status) and a
// validation result whose mean is the trial's model.width / 100. The real training and probe
// run in internal/cli's sweep tests.
type stepWorker struct {
	db *experiments.DB

	mu      sync.Mutex
	calls   []string                 // "train 3 resume=<id> limit=26s", "validate 3"
	stopAt  map[int]int64            // trial → the step its run is killed at
	diverge map[int]bool             // trial → its loss becomes NaN
	fail    map[int]error            // trial → Train fails at once
	limits  map[int]configs.Duration // trial → the time limit Train was given
}

func trialOf(cfg *configs.Config) int {
	var n int
	fmt.Sscanf(cfg.Run.Name[strings.LastIndex(cfg.Run.Name, "-t")+2:], "%d", &n)
	return n
}

func (w *stepWorker) record(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, fmt.Sprintf(format, args...))
}

func (w *stepWorker) Train(ctx context.Context, cfg *configs.Config, resume string, tags map[string]string) error {
	n := trialOf(cfg)
	w.record("train %d resume=%v limit=%s", n, resume != "", cfg.Train.TimeLimit.D())
	if err := w.fail[n]; err != nil {
		return err
	}
	var run *experiments.Run
	var err error
	start := int64(0)
	if resume != "" {
		if run, err = w.db.ReopenRun(ctx, resume); err != nil {
			return err
		}
		if cks, _ := w.db.Checkpoints(ctx, resume); len(cks) > 0 {
			start = cks[len(cks)-1].Step
		}
	} else if run, err = w.db.CreateRun(ctx, experiments.RunSpec{Name: cfg.Run.Name, Tags: tags, Params: cfg.Flatten(), Seed: cfg.Run.Seed}); err != nil {
		return err
	}
	batch := float64(cfg.Data.BatchSize)
	for step := start + 1; step <= int64(cfg.Train.Steps); step++ {
		if err := run.LogMetrics(ctx, step, map[string]float64{"loss": 1, metric.ImagesPerS: batch}); err != nil {
			return err
		}
		if step%2 == 0 || step == int64(cfg.Train.Steps) {
			if err := run.RecordCheckpoint(ctx, step, fmt.Sprintf("/ckpt/%d", step), "sha", 1); err != nil {
				return err
			}
		}
		if w.diverge[n] && step == 3 {
			run.Finish(ctx, experiments.StatusFailed, "loss is not finite")
			return fmt.Errorf("step 3: %w", ErrDiverged)
		}
		if at, ok := w.stopAt[n]; ok && step == at {
			delete(w.stopAt, n)
			run.Finish(ctx, experiments.StatusKilled, "")
			return errors.New("killed")
		}
	}
	return run.Finish(ctx, experiments.StatusFinished, "")
}

func (w *stepWorker) Validate(ctx context.Context, cfg *configs.Config, runID string) error {
	n := trialOf(cfg)
	w.record("validate %d", n)
	cks, err := w.db.Checkpoints(ctx, runID)
	if err != nil {
		return err
	}
	step := cks[len(cks)-1].Step
	right := cfg.Model.Width // of 100 test images per task
	var evals []experiments.Eval
	var outs []experiments.Outcome
	for _, task := range []string{"a", "b"} {
		evals = append(evals, experiments.Eval{CheckpointStep: step, Suite: experiments.SuiteValidation, Task: task,
			Metric: experiments.MetricAccuracy, Value: float64(right) / 100})
		for i := range 100 {
			p := 1
			if i < right {
				p = 0
			}
			outs = append(outs, experiments.Outcome{CheckpointStep: step, Suite: experiments.SuiteValidation, Task: task,
				Image: fmt.Sprintf("img%03d", i), Label: 0, Predicted: p})
		}
	}
	return w.db.RecordEvaluation(ctx, runID, evals, outs)
}

// inProcess runs trials in the test's process.
type inProcess struct {
	db *experiments.DB
	w  Worker
}

func (l inProcess) Launch(ctx context.Context, s *Sweep, n, _ int) error {
	return RunTrial(ctx, l.db, s, n, l.w, &bytes.Buffer{})
}

func newSweep(t *testing.T, design Design, sets ...string) (*experiments.DB, *Sweep) {
	t.Helper()
	src := smoke(t, sets...)
	p, err := NewPlan(src, design)
	if err != nil {
		t.Fatal(err)
	}
	db, err := experiments.Open(context.Background(), filepath.Join(t.TempDir(), "natssl.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := Create(context.Background(), db, p, "natssl sweep ...", 1)
	if err != nil {
		t.Fatal(err)
	}
	return db, s
}

func states(t *testing.T, db *experiments.DB, s *Sweep) string {
	t.Helper()
	sts, err := Status(context.Background(), db, s)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, st := range sts {
		out = append(out, st.State.String())
	}
	return strings.Join(out, " ")
}

// TestResume: a sweep run again skips its finished trials, continues a killed trial's run from
// its checkpoint within what is left of the budget, scores a trained but unscored one without
// training it, leaves a diverged one alone, and runs a failed one again.
func TestResume(t *testing.T) {
	ctx := context.Background()
	db, s := newSweep(t, Design{Params: params(t, "model.width=10,20,30,40,50"), Budget: 30 * time.Second},
		"train.steps=8", "data.batch_size=4")
	w := &stepWorker{db: db, stopAt: map[int]int64{2: 5}, diverge: map[int]bool{4: true}, fail: map[int]error{5: errors.New("no data")}}
	var progress bytes.Buffer
	res, err := Run(ctx, db, s, RunOptions{Launcher: inProcess{db, w}, Progress: &progress, Every: -1})
	if err == nil || !strings.Contains(err.Error(), "2 trials failed (2, 5)") || !strings.Contains(err.Error(), "natssl sweep --resume "+s.Short()) {
		t.Fatalf("error %v, want trials 2 and 5 failed, and how to resume", err)
	}
	if got := states(t, db, s); got != "done unfinished done diverged pending" {
		t.Fatalf("states %q after the first run", got)
	}
	if res.Best == nil || res.Best.N != 3 || res.Best.Score.Mean != 0.3 {
		t.Errorf("best %+v, want trial 3 (0.3)", res.Best)
	}
	for _, want := range []string{"trial 1 of 5: model.width=10 (seed 42)", "trial 3 of 5 done", "validation 0.3000 over 2 tasks",
		"best so far: trial 3 (0.3000)", "trial 5 of 5 failed", "no data", "trial 4 of 5 diverged"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress does not say %q:\n%s", want, progress.String())
		}
	}

	// Trial 1 trained again without being scored: its checkpoint moved on.
	sts, _ := Status(ctx, db, s)
	r, _ := db.ReopenRun(ctx, sts[0].Run.ID)
	r.RecordCheckpoint(ctx, 9, "/ckpt/9", "sha", 1)
	r.Finish(ctx, experiments.StatusFinished, "")

	w2 := &stepWorker{db: db}
	if _, err := Run(ctx, db, s, RunOptions{Launcher: inProcess{db, w2}, Progress: &progress, Every: -1}); err != nil {
		t.Fatalf("resume: %v\n%s", err, progress.String())
	}
	// Trial 2 was killed at step 5, its last checkpoint at step 4: 4 steps of 4 images at 4
	// images/s are 4 s of its 30 s budget.
	want := []string{"validate 1", "train 2 resume=true limit=26s", "validate 2", "train 5 resume=false limit=30s", "validate 5"}
	if strings.Join(w2.calls, "; ") != strings.Join(want, "; ") {
		t.Errorf("resume did %q, want %q", w2.calls, want)
	}
	if got := states(t, db, s); got != "done done done diverged done" {
		t.Errorf("states %q after resuming", got)
	}
	w3 := &stepWorker{db: db}
	if _, err := Run(ctx, db, s, RunOptions{Launcher: inProcess{db, w3}, Every: -1}); err != nil || len(w3.calls) != 0 {
		t.Errorf("a finished sweep run again did %q (%v), want nothing", w3.calls, err)
	}
}

// TestResumeTakesUpATrialKilledEarly: a trial whose run was killed before its first
// checkpoint is taken up under that run's id, not left behind beside a new run; a trial whose
// run failed before its first checkpoint starts again as a new run.
func TestResumeTakesUpATrialKilledEarly(t *testing.T) {
	ctx := context.Background()
	db, s := newSweep(t, Design{Params: params(t, "model.width=10,20,30")}, "train.steps=4", "data.batch_size=4")
	w := &stepWorker{db: db, stopAt: map[int]int64{2: 1, 3: 1}}
	if _, err := Run(ctx, db, s, RunOptions{Launcher: inProcess{db, w}, Every: -1}); err == nil {
		t.Fatal("the first run stopped two trials, yet reported no failure")
	}
	sts, _ := Status(ctx, db, s)
	if sts[1].Run == nil || sts[2].Run == nil {
		t.Fatalf("trials 2 and 3 did not run: %q", w.calls)
	}
	killed, failed := sts[1].Run.ID, sts[2].Run.ID
	if sts[1].Step != 0 || sts[1].Run.Status != experiments.StatusKilled {
		t.Fatalf("trial 2: %s at step %d, want KILLED before its first checkpoint", sts[1].Run.Status, sts[1].Step)
	}
	r, _ := db.ReopenRun(ctx, failed)
	r.Finish(ctx, experiments.StatusFailed, "no data")

	w2 := &stepWorker{db: db}
	if _, err := Run(ctx, db, s, RunOptions{Launcher: inProcess{db, w2}, Every: -1}); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if want := "train 2 resume=true limit=2m0s; validate 2; train 3 resume=false limit=2m0s; validate 3"; strings.Join(w2.calls, "; ") != want {
		t.Errorf("resume did %q, want %q", w2.calls, want)
	}
	sts, _ = Status(ctx, db, s)
	if sts[1].Run.ID != killed || sts[1].State != Done {
		t.Errorf("trial 2: run %s (%v), want run %s taken up and done", sts[1].Run.ID, sts[1].State, killed)
	}
	if sts[2].Run.ID == failed {
		t.Errorf("trial 3: its failed run was continued; want a new run")
	}
}

// TestRunStopsAfterFirstFailure: when the first trial fails before any succeeds (no data, a
// wrong path), no more are started.
func TestRunStopsAfterFirstFailure(t *testing.T) {
	db, s := newSweep(t, Design{Params: params(t, "model.width=10,20,30")}, "train.steps=2")
	w := &stepWorker{db: db, fail: map[int]error{1: errors.New("data.source does not exist")}}
	var progress bytes.Buffer
	_, err := Run(context.Background(), db, s, RunOptions{Launcher: inProcess{db, w}, Progress: &progress, Every: -1})
	if err == nil || len(w.calls) != 1 || !strings.Contains(progress.String(), "starting no more") {
		t.Errorf("calls %q, error %v, progress:\n%s", w.calls, err, progress.String())
	}
}

// TestRunLeavesBusyTrials: a trial whose run another process is training is left alone.
func TestRunLeavesBusyTrials(t *testing.T) {
	ctx := context.Background()
	db, s := newSweep(t, Design{Params: params(t, "model.width=10,20")}, "train.steps=2")
	if _, err := db.CreateRun(ctx, experiments.RunSpec{Name: "t1", Tags: s.Tags(1)}); err != nil {
		t.Fatal(err)
	}
	w := &stepWorker{db: db}
	res, err := Run(ctx, db, s, RunOptions{Launcher: inProcess{db, w}, Every: -1})
	if err != nil || len(res.Busy) != 1 || res.Busy[0] != 1 || strings.Join(w.calls, "; ") != "train 2 resume=false limit=2m0s; validate 2" {
		t.Errorf("busy %v, calls %q, error %v", res.Busy, w.calls, err)
	}
	if err := RunTrial(ctx, db, s, 1, w, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Errorf("RunTrial on a busy trial: %v", err)
	}
}

func TestWindowTime(t *testing.T) {
	pts := []experiments.Point{{Step: 10, Value: 20}, {Step: 20, Value: 40}, {Step: 30, Value: 10}}
	// batch 4: 10 steps at 20 img/s = 2 s, 10 at 40 = 1 s, then 5 steps at 40 img/s = 0.5 s
	if got := windowTime(pts, 25, 4); got != 3500*time.Millisecond {
		t.Errorf("windowTime = %v, want 3.5s", got)
	}
	if got := windowTime(nil, 25, 4); got != 0 {
		t.Errorf("no metrics: %v, want 0", got)
	}
}
