package pipeline

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/sweep"
	"github.com/natssl/natssl/trainer"
)

// TestTrialWorker: a sweep's trial is trained by Train as a run tagged with its trial, scored
// by Evaluate on the validation suite (recorded as suite val, with every image's outcome, and
// never as newt), and a loss that stops being finite reads as sweep.ErrDiverged while staying
// trainer.ErrNonFinite.
func TestTrialWorker(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := smokeConfig(t, dir)
	w := &trialWorker{db: cfg.Run.DB, command: "test", obs: &recorder{}}
	tags := map[string]string{experiments.TagSweep: "abc", experiments.TagTrial: "1"}
	if err := w.Train(ctx, cfg, "", tags); err != nil {
		t.Fatal(err)
	}
	db := openDB(t, cfg)
	runs, err := db.SweepRuns(ctx, "abc")
	if err != nil || len(runs) != 1 || runs[0].Trial != 1 {
		t.Fatalf("runs tagged with the trial: %+v, %v", runs, err)
	}
	id := runs[0].RunID
	if err := w.Validate(ctx, cfg, id); err != nil {
		t.Fatal(err)
	}
	rec, err := db.GetRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	val := experiments.Summarize(rec.Evals, experiments.SuiteValidation, experiments.MetricAccuracy)
	if len(val) != 1 || val[0].CheckpointStep != 6 || val[0].Tasks != 2 {
		t.Errorf("validation results %+v, want the 2 tasks of the smoke validation suite at step 6", val)
	}
	if newt := experiments.Summarize(rec.Evals, experiments.SuiteNeWT, experiments.MetricAccuracy); len(newt) != 0 {
		t.Errorf("the trial was scored on the evaluation suite: %+v", newt)
	}
	outs, err := db.Outcomes(ctx, id, 6, experiments.SuiteValidation)
	if err != nil || len(outs) != 32 || !strings.HasPrefix(outs[0].Image, "fmnist-train-") {
		t.Errorf("%d validation outcomes (%v), want the 32 test images of the validation suite", len(outs), err)
	}

	err = w.Train(ctx, smokeConfig(t, dir, "train.lr=1e30"), "", tags)
	if !errors.Is(err, sweep.ErrDiverged) || !errors.Is(err, trainer.ErrNonFinite) {
		t.Errorf("a loss that became NaN: error %v, want sweep.ErrDiverged and trainer.ErrNonFinite", err)
	}
}

// TestSweepRefusals: what cannot run as asked is refused before any work, as a
// *RequestError (or *configs.Errors for a bad value), and a dry run stores nothing.
func TestSweepRefusals(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := smokeConfig(t, dir)
	src := configs.Sources{File: "smoke", Env: []string{}, Sets: []string{"run.db=" + cfg.Run.DB}}
	var re *RequestError
	var ce *configs.Errors
	for _, tc := range []struct {
		name   string
		run    func() error
		target any
		want   string
	}{
		{"bad --param syntax", func() error {
			_, err := RunSweep(ctx, SweepOptions{Config: src, Params: []string{"model.width", "train.lr=0.1,0.1"}}, nil)
			return err
		}, &re, "(such as train.lr=0.1,0.3)\nsweep: --param train.lr=0.1,0.1: value 0.1 is listed twice"},
		{"bad value", func() error {
			_, err := RunSweep(ctx, SweepOptions{Config: src, Params: []string{"train.temperature=0.1,-1"}}, nil)
			return err
		}, &ce, "--param train.temperature=0.1,-1"},
		{"more trials at once than cores", func() error {
			_, err := RunSweep(ctx, SweepOptions{Config: src, Params: []string{"model.width=8"}, Parallel: runtime.NumCPU() + 1, DryRun: true}, nil)
			return err
		}, &re, fmt.Sprintf("--parallel %d", runtime.NumCPU()+1)},
		{"no validation suite", func() error {
			nv := src
			nv.Sets = append(nv.Sets, "eval.val_csv=", "eval.val_images=")
			_, err := RunSweep(ctx, SweepOptions{Config: nv, Params: []string{"model.width=8"}}, nil)
			return err
		}, &re, "no validation suite"},
		{"a trial without its tracker", func() error {
			return RunSweepTrial(ctx, SweepTrialOptions{Sweep: "ab", Trial: 1}, nil)
		}, &re, "--db"},
		{"an unknown suite", func() error {
			_, err := Evaluate(ctx, cfg, EvalOptions{RandomInit: true, Suite: "test"}, nil)
			return err
		}, &re, `unknown suite "test"`},
		{"a validation suite the config lacks", func() error {
			_, err := Evaluate(ctx, smokeConfig(t, dir, "eval.val_csv=", "eval.val_images="), EvalOptions{RandomInit: true, Suite: "val"}, nil)
			return err
		}, &re, "no validation suite"},
		{"a sweep report given runs", func() error {
			_, err := Report(ctx, cfg, ReportOptions{Sweep: "ab", All: true})
			return err
		}, &re, "--sweep reports one sweep's trials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil || !errors.As(err, tc.target) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v (%T), want a %T saying %q", err, err, tc.target, tc.want)
			}
		})
	}
	// A monitor set that is missing refuses the sweep before it is stored, naming its key and
	// how to train without the monitor, rather than failing every trial.
	noKNN := src
	noKNN.Sets = append(append([]string(nil), src.Sets...), "eval.monitor_knn="+filepath.Join(dir, "none.tar"), "run.out_dir="+filepath.Join(dir, "runs"))
	// (Were it not refused, its trial would run this test binary, which runs no test.)
	noTest := func(string, string, int) []string { return []string{"-test.run=^$"} }
	_, err := RunSweep(ctx, SweepOptions{Config: noKNN, Params: []string{"model.width=8"}, TrialArgs: noTest}, nil)
	if err == nil || !strings.Contains(err.Error(), `eval.monitor_knn is "`+dir) || !strings.Contains(err.Error(), "eval.monitor_every=0") {
		t.Errorf("a missing kNN set: error %v", err)
	}
	// A dry run reads the trials' monitor sets and says what the trials are watched on: here
	// the smoke training images and 2 tasks of the validation suite.
	rec := &recorder{}
	res, err := RunSweep(ctx, SweepOptions{Config: src, Params: []string{"model.width=8,16"}, DryRun: true}, rec)
	if err != nil || res.Plan == nil || len(res.Plan.Trials) != 2 || res.Sweep != nil {
		t.Fatalf("dry run: %+v, %v", res, err)
	}
	if !rec.noticed("trials: monitor every 3 steps: kNN top-1 on 56 images", "NeWT probe on 2 tasks") {
		t.Errorf("the dry run's notices %q do not say what the trials are watched on", rec.notices)
	}
	if csv, _ := res.Plan.Base.Eval.MonitorSuite(); csv != res.Plan.Base.Eval.ValCSV {
		t.Errorf("the trials' monitor suite is %s, want the validation suite", csv)
	}
	if _, err := experiments.OpenExisting(ctx, cfg.Run.DB); err == nil {
		t.Error("a dry run or a refused design created the tracker")
	}
}
