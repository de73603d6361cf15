package report

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/sweep"
)

// sweepFixture records a sweep over train.lr (2 values, log scale), augment.crop_scale (a list
// value) and two tied jitter keys, 2 seeds each, in a tracker: every trial trained for 6 steps
// and scored on a validation suite of 2 tasks × 40 test images, right on right[trial] of
// them; trial 8 is left unfinished.
func sweepFixture(t *testing.T, right map[int]int) (*experiments.DB, *sweep.Sweep) {
	t.Helper()
	ctx := context.Background()
	var ps []sweep.Param
	for _, raw := range []string{"train.lr=0.001,0.1", "augment.crop_scale=[0.2,1],[0.5,1]",
		"augment.jitter.brightness+augment.jitter.contrast=0.4"} {
		p, err := sweep.ParseParam(raw)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	plan, err := sweep.NewPlan(configs.Sources{File: "smoke", Env: []string{}}, sweep.Design{Params: ps, Seeds: 2})
	if err != nil {
		t.Fatal(err)
	}
	db, _ := openTestDB(t)
	t.Cleanup(func() { db.Close() })
	s, err := sweep.Create(ctx, db, plan, "natssl sweep", 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range s.Trials {
		cfg, err := s.Config(tr.N)
		if err != nil {
			t.Fatal(err)
		}
		run, err := db.CreateRun(ctx, experiments.RunSpec{Name: cfg.Run.Name, Tags: s.Tags(tr.N), Params: cfg.Flatten(), Seed: cfg.Run.Seed})
		if err != nil {
			t.Fatal(err)
		}
		run.LogMetrics(ctx, 6, map[string]float64{"loss": 1})
		run.RecordCheckpoint(ctx, 6, "/ckpt", "sha", 1)
		if tr.N == 8 {
			run.Finish(ctx, experiments.StatusKilled, "")
			continue
		}
		run.Finish(ctx, experiments.StatusFinished, "")
		var evals []experiments.Eval
		var outs []experiments.Outcome
		for _, task := range []string{"t1", "t2"} {
			evals = append(evals, experiments.Eval{CheckpointStep: 6, Suite: experiments.SuiteValidation, Task: task, Cluster: "c",
				Metric: experiments.MetricAccuracy, Value: float64(right[tr.N]) / 40})
			for i := range 40 {
				p := 1
				if i < right[tr.N] {
					p = 0
				}
				outs = append(outs, experiments.Outcome{CheckpointStep: 6, Suite: experiments.SuiteValidation, Task: task,
					Image: fmt.Sprintf("img%02d", i), Predicted: p})
			}
		}
		if err := db.RecordEvaluation(ctx, run.ID(), evals, outs); err != nil {
			t.Fatal(err)
		}
	}
	return db, s
}

func TestSweepReport(t *testing.T) {
	right := map[int]int{1: 20, 2: 22, 3: 30, 4: 29, 5: 38, 6: 24, 7: 37}
	db, s := sweepFixture(t, right)
	rep, err := BuildSweep(context.Background(), db, s, SweepOptions{Resamples: 500, Now: func() time.Time { return time.Unix(0, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Trials) != 8 || rep.Best == nil || rep.Best.N != 5 || rep.Best.Mean != 38.0/40 {
		t.Fatalf("%d trials, best %+v; want trial 5 (0.95) of 8", len(rep.Trials), rep.Best)
	}
	// Configurations: (1,2) (3,4) (5,6) (7,8); 7 alone is scored in the last, and its mean wins.
	if c := rep.BestConfig; c == nil || c.N != 4 || c.Scored != 1 {
		t.Errorf("best configuration %+v, want 4 (trial 7 alone scored)", c)
	}
	if c := rep.Configs[2]; c.Scored != 2 || math.Abs(c.Mean-31.0/40) > 1e-12 || math.Abs(c.SD-math.Sqrt(2)*7/40) > 1e-12 {
		t.Errorf("configuration 3: %+v, want the mean ± sd of 0.95 and 0.6", c)
	}
	for _, tr := range rep.Trials {
		switch {
		case tr.N == 8:
			if tr.State != sweep.Unfinished || !math.IsNaN(tr.Mean) || tr.CI.OK {
				t.Errorf("trial 8: %v, mean %v, CI %+v; want unfinished, unscored", tr.State, tr.Mean, tr.CI)
			}
		case !tr.CI.OK || !(tr.CI.Lo <= tr.Mean && tr.Mean <= tr.CI.Hi):
			t.Errorf("trial %d: mean %v outside its interval %+v", tr.N, tr.Mean, tr.CI)
		case tr != rep.Best && (!tr.DeltaCI.OK || tr.Delta != tr.Mean-rep.Best.Mean):
			t.Errorf("trial %d: Δ %v %+v", tr.N, tr.Delta, tr.DeltaCI)
		}
	}
	// Trial 7 (37 of 40 right, on the same images as 5) is within noise of the best; trial 1
	// (20 of 40) is far below it.
	if iv := rep.Trials[6].DeltaCI; !(iv.Lo < 0 && iv.Hi >= 0) {
		t.Errorf("trial 7 against the best: %+v, want an interval holding 0", iv)
	}
	if iv := rep.Trials[0].DeltaCI; !(iv.Hi < 0) {
		t.Errorf("trial 1 against the best: %+v, want an interval below 0", iv)
	}
	// The same sweep run again (another sweep id, other run ids, the same answers on every
	// image) has the same intervals.
	db2, s2 := sweepFixture(t, right)
	again, err := BuildSweep(context.Background(), db2, s2, SweepOptions{Resamples: 500, Now: func() time.Time { return time.Unix(0, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	if s2.ID == s.ID {
		t.Fatal("the fixture made the same sweep id twice")
	}
	for i, tr := range again.Trials {
		if tr.CI != rep.Trials[i].CI || tr.DeltaCI != rep.Trials[i].DeltaCI {
			t.Errorf("trial %d run again: %+v %+v, first %+v %+v", tr.N, tr.CI, tr.DeltaCI, rep.Trials[i].CI, rep.Trials[i].DeltaCI)
		}
	}
	// One plot per key; the tied jitter keys, equal in every trial, share one.
	var files []string
	for _, p := range rep.Plots {
		files = append(files, p.File)
	}
	if got := strings.Join(files, " "); got != "sweep_train_lr.svg sweep_augment_crop_scale.svg sweep_augment_jitter_brightness.svg" {
		t.Errorf("plots %s", got)
	}
	checkPlots(t, rep.Plots, []string{"trial (95% interval)", fmt.Sprintf("best (trial %d)", rep.Best.N)})
	var md bytes.Buffer
	if err := rep.Markdown(&md, true); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| trial | config | seed | train.lr | augment.crop_scale | augment.jitter.brightness | augment.jitter.contrast | status |",
		"| 5 ★ best | 3 | 42 | 0.1 | [0.2,1] | 0.4 | 0.4 | done | 6 of 6 |",
		"| 8 | 4 | 43 | 0.1 | [0.5,1] | 0.4 | 0.4 | unfinished (killed) |",
		"within noise", "| 4 ★ best | 0.1 | [0.5,1] | 0.4 | 0.4 | 1 of 2 | 0.9250 |",
		"trial 8 is unfinished (killed): natssl sweep --resume " + s.Short(),
		"Its recipe, on the sweep's base config: --set train.lr=0.1 --set 'augment.crop_scale=[0.2,1]'",
		"![Validation score against augment.jitter.brightness = augment.jitter.contrast](sweep_augment_jitter_brightness.svg)",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report.md does not contain %q:\n%s", want, md.String())
		}
	}
	var page bytes.Buffer
	if err := rep.HTML(&page); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "<title>natssl sweep "+s.Short()+"</title>") || strings.Count(page.String(), `<figure class="plot"`) != 3 {
		t.Error("the HTML page lacks its title or its three plots")
	}
	// The lr axis is logarithmic: 0.001 and 0.1 span a hundred times.
	if lr := string(rep.Plots[0].SVG); !strings.Contains(lr, ">0.01<") && !strings.Contains(lr, "10^") && !strings.Contains(lr, "1e-02") {
		t.Errorf("the train.lr plot has no tick at 0.01 (log scale):\n%.400s", lr)
	}
}
