package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/experiments/metric"
)

func TestSweepUsage(t *testing.T) {
	cores := fmt.Sprint(runtime.NumCPU() + 1)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"nothing to sweep", []string{"sweep", "--config", "smoke"}, 2, "nothing to sweep"},
		{"resume with a design", []string{"sweep", "--resume", "ab", "--param", "model.width=8"}, 2, "takes no --param"},
		{"bad values, all at once", []string{"sweep", "--config", "smoke", "--param", "train.temperature=0.1,-1", "--param", "model.widht=8"}, 2,
			"config: --param train.temperature=0.1,-1: train.temperature = \"-1\": must be > 0\nconfig: --param model.widht=8: model.widht = \"8\": unknown key (did you mean model.width?)"},
		{"bad syntax", []string{"sweep", "--config", "smoke", "--param", "model.width"}, 2, "want key=value"},
		{"more trials at once than cores", []string{"sweep", "--config", "smoke", "--param", "model.width=8", "--parallel", cores, "--dry-run"}, 2, "--parallel " + cores + ": this process may use"},
		{"dry run", []string{"sweep", "--config", "smoke", "--param", "model.width=8,16", "--param", "train.lr=log:0.0001..0.01", "--random", "3", "--dry-run"}, 0,
			"random search of 3 configurations = 3 trials over model.width, train.lr"},
		{"report of no sweep", []string{"report", "--config", "smoke", "--db", "testdata/none.db", "--sweep", "ab", "RUN"}, 2, "takes no RUN_ID"},
		{"a sweep's report by classifier", []string{"report", "--config", "smoke", "--db", "testdata/none.db", "--sweep", "ab", "--classifier", "logreg"}, 2, "or --classifier"},
		{"an unknown sweep", []string{"report", "--config", "smoke", "--db", "SWEEPDB", "--sweep", "ffff"}, 2, `sweep "ffff"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := slices.Clone(tt.args)
			for i, a := range args {
				if a == "SWEEPDB" {
					args[i] = emptyTracker(t)
				}
			}
			code, stdout, stderr := runCLI(t, args...)
			if code != tt.code || !strings.Contains(stdout+stderr, tt.want) {
				t.Errorf("exit %d, want %d; output:\n%s%s\nwant it to contain %q", code, tt.code, stdout, stderr, tt.want)
			}
		})
	}
}

// TestSweepSmoke runs a real sweep on the smoke data: two trials trained as child processes of
// natssl (here the test binary), two at a time, each scored on the smoke validation suite; then
// resumes it after one trial was interrupted and another lost its score, and reports it.
func TestSweepSmoke(t *testing.T) {
	t.Setenv(asNatssl, "1")
	dir := t.TempDir()
	db := filepath.Join(dir, "natssl.db")
	global := []string{"--config", "smoke", "--db", db, "--set", "run.out_dir=" + filepath.Join(dir, "runs")}
	args := append([]string{"sweep", "--param", "train.temperature=0.1,0.5", "--budget", "1m", "--parallel", "2", "--json"}, global...)
	code, stdout, stderr := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("sweep: exit %d\n%s%s", code, stdout, stderr)
	}
	var res struct {
		SweepID   string  `json:"sweep_id"`
		Trials    int     `json:"trials"`
		Finished  int     `json:"finished"`
		BestTrial int     `json:"best_trial"`
		BestScore float64 `json:"best_validation"`
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("last line is not JSON: %v\n%s", err, stdout)
	}
	if res.Trials != 2 || res.Finished != 2 || res.BestTrial == 0 || !(res.BestScore > 0) {
		t.Fatalf("result %+v\n%s", res, stderr)
	}
	for _, want := range []string{"trial 1 of 2: train.temperature=0.1 (seed 42)", "trial 2 of 2 done", "best so far"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("progress does not say %q:\n%s", want, stderr)
		}
	}
	ctx := context.Background()
	tr, err := experiments.OpenExisting(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	runs, err := tr.SweepRuns(ctx, res.SweepID)
	if err != nil || len(runs) != 2 {
		t.Fatalf("runs of the sweep: %v, %v", runs, err)
	}
	byTrial := map[int]string{}
	for _, r := range runs {
		byTrial[r.Trial] = r.RunID
		rec, err := tr.GetRun(ctx, r.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Status != experiments.StatusFinished || !strings.HasPrefix(rec.Name, "smoke-sw") || len(rec.Checkpoints) == 0 {
			t.Errorf("trial %d: run %s %s, %d checkpoints", r.Trial, rec.Name, rec.Status, len(rec.Checkpoints))
		}
		outs, err := tr.Outcomes(ctx, r.RunID, 6, experiments.SuiteValidation)
		if err != nil || len(outs) != 32 || !strings.HasPrefix(outs[0].Image, "fmnist-train-") {
			t.Errorf("trial %d: %d validation outcomes (%v), want the 32 test images of the smoke validation suite", r.Trial, len(outs), err)
		}
		if s := experiments.Summarize(rec.Evals, experiments.SuiteNeWT, experiments.MetricAccuracy); len(s) != 0 {
			t.Errorf("trial %d was scored on the evaluation suite", r.Trial)
		}
		// Watched by the online monitor, its NeWT half on the validation suite.
		for _, kv := range rec.Params {
			if kv.Key == "eval.monitor_newt_csv" && !strings.HasSuffix(kv.Value, filepath.Join("val", "labels.csv")) {
				t.Errorf("trial %d was watched on %s, want the validation suite", r.Trial, kv.Value)
			}
		}
		for _, key := range []string{metric.MonitorNeWT, metric.MonitorKNN} {
			if pts, err := tr.MetricSeries(ctx, r.RunID, key); err != nil || len(pts) != 3 {
				t.Errorf("trial %d: %s at %d steps (%v), want 0, 3 and 6", r.Trial, key, len(pts), err)
			}
		}
	}

	// Trial 1 interrupted after its step-3 checkpoint; trial 2 trained but not scored.
	raw, err := sql.Open("sqlite3", db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var last string
	raw.QueryRow(`SELECT path FROM checkpoints WHERE run_id = ? AND step = 6`, byTrial[1]).Scan(&last)
	os.Remove(last)
	for _, q := range []string{
		`DELETE FROM checkpoints WHERE run_id = '` + byTrial[1] + `' AND step = 6`,
		`UPDATE runs SET status = 'KILLED' WHERE id = '` + byTrial[1] + `'`,
		`DELETE FROM eval_outcomes WHERE run_id = '` + byTrial[2] + `'`,
		`DELETE FROM evals WHERE run_id = '` + byTrial[2] + `'`,
		`DELETE FROM evaluations WHERE run_id = '` + byTrial[2] + `'`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, stderr = runCLI(t, append([]string{"sweep", "--resume", res.SweepID[:6]}, global...)...)
	if code != 0 || !strings.Contains(stderr, "0 done, 2 to run") {
		t.Fatalf("resume: exit %d\n%s%s", code, stdout, stderr)
	}
	log1, _ := os.ReadFile(filepath.Join(dir, "runs", "sweeps", res.SweepID, "trial-001.log"))
	if !strings.Contains(string(log1), "continuing run "+byTrial[1]+" from step 3") || !strings.Contains(string(log1), "resuming run "+byTrial[1]+" from step 3") {
		t.Errorf("trial 1 was not continued from its checkpoint:\n%s", log1)
	}
	log2, _ := os.ReadFile(filepath.Join(dir, "runs", "sweeps", res.SweepID, "trial-002.log"))
	if strings.Count(string(log2), "finished (all steps done)") != 1 || strings.Count(string(log2), "validation suite") != 2 {
		t.Errorf("trial 2 was trained again, or not scored again:\n%s", log2)
	}
	runs, _ = tr.SweepRuns(ctx, res.SweepID)
	if len(runs) != 2 {
		t.Errorf("resume made new runs: %v", runs)
	}
	code, _, stderr = runCLI(t, append([]string{"sweep", "--resume", res.SweepID}, global...)...)
	if code != 0 || !strings.Contains(stderr, "2 done, 0 to run") {
		t.Errorf("resuming a finished sweep: exit %d\n%s", code, stderr)
	}

	out := filepath.Join(dir, "report")
	code, stdout, stderr = runCLI(t, append([]string{"report", "--sweep", res.SweepID[:8], "--out", out}, global...)...)
	if code != 0 {
		t.Fatalf("report --sweep: exit %d\n%s%s", code, stdout, stderr)
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	for _, want := range []string{"# natssl sweep " + res.SweepID[:8], "| trial | train.temperature | status | steps |",
		fmt.Sprintf("| %d ★ best |", res.BestTrial), "6 of 6", "![Validation score against train.temperature](sweep_train_temperature.svg)"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md does not contain %q:\n%s", want, md)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "sweep_train_temperature.svg")); err != nil {
		t.Error(err)
	}
	page, _ := os.ReadFile(filepath.Join(out, "report.html"))
	if !regexp.MustCompile(`data-file="sweep_train_temperature.svg"[^>]*><img src="data:image/svg`).Match(page) || !strings.Contains(string(page), "<h1>natssl sweep") {
		t.Error("report.html lacks its title or plots")
	}
}

// emptyTracker is a tracker database with no runs and no sweeps.
func emptyTracker(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "natssl.db")
	db, err := experiments.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	return path
}
