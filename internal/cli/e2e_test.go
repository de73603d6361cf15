package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/natssl/natssl/experiments"
)

// TestEndToEnd is the fast variant of `make demo`: the whole chain on a tiny subset of real
// Fashion-MNIST images — data conversion, a random-init probe, training with checkpoints, a
// probe of the trained encoder, the tracker, and the comparison report — in seconds.
func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "fmnist")
	db := filepath.Join(dir, "natssl.db")
	global := []string{"--db", db,
		"--set", "data.source=" + filepath.Join(data, "train.json"),
		"--set", "data.root=" + filepath.Join(data, "train-{000..001}.tar"),
		"--set", "eval.newt_csv=" + filepath.Join(data, "newt", "labels.csv"),
		"--set", "eval.images=" + filepath.Join(data, "newt", "images.tar.gz"),
		"--set", "run.out_dir=" + filepath.Join(dir, "runs"),
		"--set", "data.image_size=16", "--set", "data.batch_size=32", "--set", "data.shuffle_buffer=64",
		"--set", "model.width=4", "--set", "model.proj_hidden=16", "--set", "model.proj_dim=8",
		"--set", "eval.image_size=16",
		"--set", "eval.monitor_knn=" + filepath.Join(data, "monitor", "images.tar"), "--set", "eval.monitor_every=2",
	}
	var trainErr string
	step := func(name string, args ...string) string {
		t.Helper()
		code, stdout, stderr := runCLI(t, append(args, global...)...)
		if code != 0 {
			t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", name, code, stdout, stderr)
		}
		if name == "train" {
			trainErr = stderr
		}
		return stdout
	}
	lastJSON := func(out string, v any) {
		t.Helper()
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), v); err != nil {
			t.Fatalf("last line is not JSON: %v\n%s", err, out)
		}
	}

	code, _, stderr := runCLI(t, "data", "fashion-mnist", "--out", data, "--train-limit", "256", "--per-class", "8", "--shards", "2", "--monitor-per-class", "10")
	if code != 0 {
		t.Fatalf("data fashion-mnist: exit %d: %s", code, stderr)
	}

	var random struct {
		RunID        string  `json:"run_id"`
		MeanAccuracy float64 `json:"mean_accuracy"`
	}
	lastJSON(step("eval --random-init", "eval", "--random-init", "--json"), &random)

	var finished struct {
		RunID string `json:"run_id"`
		Steps int64  `json:"steps"`
	}
	lastJSON(step("train", "train", "--json", "--set", "run.name=e2e-trained", "--set", "train.steps=4",
		"--set", "train.checkpoint_every=2", "--set", "train.warmup_steps=1"), &finished)

	// The online monitor watched the run: its scores end the progress lines of steps 0, 2, 4.
	monitored := regexp.MustCompile(`(?m)^step [024]/4 .*  \| knn \d+\.\d%  newt \d+\.\d%  \(\d+\.\ds\)$`)
	if n := len(monitored.FindAllString(trainErr, -1)); n != 3 {
		t.Errorf("%d progress lines with the monitor's scores, want 3:\n%s", n, trainErr)
	}

	ctx := context.Background()
	tr, err := experiments.OpenExisting(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	runs, err := tr.ListRuns(ctx, experiments.ListOptions{Name: "e2e-trained"})
	if err != nil || len(runs) != 1 {
		t.Fatalf("trained run in the tracker: %v, %v", runs, err)
	}
	trained := runs[0]
	if finished.RunID != trained.ID || finished.Steps != 4 {
		t.Errorf("train --json says run %s, %d steps; the tracker has %s", finished.RunID, finished.Steps, trained.ID)
	}
	if trained.Status != experiments.StatusFinished || trained.Steps != 4 {
		t.Errorf("trained run: status %s, %d steps; want FINISHED, 4", trained.Status, trained.Steps)
	}
	ckpts, err := tr.Checkpoints(ctx, trained.ID)
	if err != nil || len(ckpts) == 0 || ckpts[len(ckpts)-1].Step != 4 {
		t.Fatalf("checkpoints of the trained run: %+v, %v", ckpts, err)
	}

	var evaluated struct {
		RunID          string  `json:"run_id"`
		CheckpointStep int64   `json:"checkpoint_step"`
		MeanAccuracy   float64 `json:"mean_accuracy"`
	}
	lastJSON(step("eval --run", "eval", "--run", trained.ID[:8], "--json"), &evaluated)
	if evaluated.RunID != trained.ID || evaluated.CheckpointStep != 4 {
		t.Errorf("eval --run recorded against %s step %d, want %s step 4", evaluated.RunID, evaluated.CheckpointStep, trained.ID)
	}
	for _, r := range []struct {
		id   string
		mean float64
	}{{random.RunID, random.MeanAccuracy}, {trained.ID, evaluated.MeanAccuracy}} {
		evals, err := tr.Evals(ctx, r.id)
		if err != nil || len(evals) == 0 {
			t.Fatalf("evals of run %s: %d rows, %v", r.id, len(evals), err)
		}
		if !(r.mean > 0.3 && r.mean <= 1) {
			t.Errorf("run %s: mean accuracy %v is not an accuracy of a binary probe", r.id, r.mean)
		}
	}

	out := filepath.Join(dir, "report")
	step("report", "report", random.RunID, trained.ID, "--out", out)
	for _, f := range []string{"report.md", "report.html"} {
		b, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), trained.ID[:12]) || !strings.Contains(string(b), random.RunID[:12]) {
			t.Errorf("%s does not name both runs", f)
		}
	}
	svgs, _ := filepath.Glob(filepath.Join(out, "*.svg"))
	if len(svgs) == 0 {
		t.Error("the report wrote no plots")
	}
	if _, err := os.Stat(filepath.Join(out, "monitor.svg")); err != nil {
		t.Errorf("the report has no monitor plot: %v", err)
	}
	// natssl eval recorded every test image's outcome, so the report states the gain with its
	// interval, and no run lacks them.
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	sentence := regexp.MustCompile(`(?m)^- \S+ (beats|trails|differs from) \S+ by [+-]\d+\.\d points \[[+-]\d+\.\d, [+-]\d+\.\d\]`)
	if !sentence.Match(md) || strings.Contains(string(md), "without per-image outcomes") {
		t.Errorf("report.md lacks the paired sentence with an interval:\n%s", md)
	}
}
