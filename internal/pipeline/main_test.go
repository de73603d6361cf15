package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/trainer"
)

func TestMain(m *testing.M) {
	// The smoke preset's embedded files are written out under the cache folder: one for the
	// tests (its content-named folder is reused from run to run), not the user's.
	os.Setenv("XDG_CACHE_HOME", filepath.Join(os.TempDir(), "natssl-test-cache"))
	if name := os.Getenv(rankCaseEnv); name != "" {
		os.Exit(runRankCase(name))
	}
	goleak.VerifyTestMain(m)
}

// smokeConfig is the smoke preset at 16 px and width 4 (quick steps even under the race
// detector), writing its runs and tracker into dir.
func smokeConfig(t *testing.T, dir string, sets ...string) *configs.Config {
	t.Helper()
	cfg, err := configs.Load(configs.Sources{File: "smoke", Env: []string{}, Sets: append([]string{
		"run.out_dir=" + filepath.Join(dir, "runs"), "run.db=" + filepath.Join(dir, "natssl.db"),
		"data.image_size=16", "model.width=4", "eval.image_size=16"}, sets...)})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// recorder is an Observer that keeps what it hears; cancel, when set, is called after step
// stopAt (a signal arriving mid-run).
type recorder struct {
	mu        sync.Mutex
	notices   []string
	started   []RunStart
	finished  []RunEnd
	steps     int                // training steps (step 0, the monitor's look at the initial model, is not one)
	losses    map[int64]float64  // by step
	monitored []trainer.StepInfo // the steps that carry the monitor's scores
	stopAt    int64
	cancel    func()
}

func (r *recorder) Notice(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notices = append(r.notices, msg)
}
func (r *recorder) RunStarted(s RunStart) { r.started = append(r.started, s) }
func (r *recorder) RunFinished(e RunEnd)  { r.finished = append(r.finished, e) }
func (r *recorder) Progress(Progress)     {}
func (r *recorder) Step(s trainer.StepInfo) {
	if s.Metrics != nil {
		r.monitored = append(r.monitored, s)
	}
	if s.Step > 0 {
		r.steps++
		if r.losses == nil {
			r.losses = map[int64]float64{}
		}
		r.losses[s.Step] = s.Loss
	}
	if r.cancel != nil && s.Step == r.stopAt {
		r.cancel()
	}
}

// noticed reports whether a notice contains all of parts.
func (r *recorder) noticed(parts ...string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.notices {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(n, p)
		}
		if all {
			return true
		}
	}
	return false
}

// train runs Train and fails the test on an error.
func train(t *testing.T, cfg *configs.Config, o TrainOptions) *TrainResult {
	t.Helper()
	res, err := Train(context.Background(), cfg, o, &recorder{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// killAt trains cfg until step, then cancels as a signal does: the run ends KILLED with a
// checkpoint at that step.
func killAt(t *testing.T, cfg *configs.Config, step int64) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := &recorder{stopAt: step, cancel: cancel}
	res, err := Train(ctx, cfg, TrainOptions{}, rec)
	if err == nil || res == nil || res.Step != step {
		t.Fatalf("killed run: result %+v, err %v; want an error at step %d", res, err, step)
	}
	return res.RunID
}

func openDB(t *testing.T, cfg *configs.Config) *experiments.DB {
	t.Helper()
	db, err := experiments.Open(context.Background(), cfg.Run.DB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// tear truncates a checkpoint file as a crash or a full disk during a copy leaves it.
func tear(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
}
