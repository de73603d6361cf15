package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/natssl/natssl/experiments"
)

// smokeTrainArgs are the smoke preset pointed at the repository's test images and dir, at
// 16 px and width 4 so that steps stay quick under the race detector.
func smokeTrainArgs(dir string, extra ...string) []string {
	args := []string{"train", "--config", "smoke", "--db", filepath.Join(dir, "runs.db"),
		"--set", "data.source=../../configs/smoke/train", "--set", "run.out_dir=" + filepath.Join(dir, "runs"),
		"--set", "data.image_size=16", "--set", "model.width=4"}
	return append(args, extra...)
}

func openTracker(t *testing.T, dir string) *experiments.DB {
	t.Helper()
	return openDB(t, filepath.Join(dir, "runs.db"))
}

// openDB opens the tracker at path for the rest of the test.
func openDB(t *testing.T, path string) *experiments.DB {
	t.Helper()
	db, err := experiments.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestTrainSmokeRecordsRun(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := runCLI(t, smokeTrainArgs(dir)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// The online monitor's scores end the progress lines of the steps it ran at (0, 3, 6).
	for _, re := range []string{
		`(?m)^natssl: monitor every 3 steps: kNN top-1 on 56 images of 5 classes \(.*\); NeWT probe on 2 tasks \(fmnist_tshirt_vs_shirt, fmnist_sneaker_vs_ankle_boot\); sets read in \d+\.\ds$`,
		`(?m)^step 0/6  initial model  \| knn \d+\.\d%  newt \d+\.\d%  \(\d+\.\ds\)$`,
		`(?m)^step 3/6  epoch \d  loss \d\.\d{4} .* eta \d+s  \| knn \d+\.\d%  newt \d+\.\d%  \(\d+\.\ds\)$`,
		`(?m)^step 2/6  epoch \d  loss \d\.\d{4} .* eta \d+s$`,
	} {
		if !regexp.MustCompile(re).MatchString(stderr) {
			t.Errorf("no line matches %s in:\n%s", re, stderr)
		}
	}
	ctx := context.Background()
	db := openTracker(t, dir)
	runs, err := db.ListRuns(ctx, experiments.ListOptions{})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs %v, %v", runs, err)
	}
	r := runs[0]
	if r.Status != experiments.StatusFinished || r.Name != "smoke" || r.Steps != 6 {
		t.Fatalf("run %+v", r)
	}
	for _, k := range []string{"loss", "lr", "images_per_s", "data_wait", "skipped", "monitor/knn_top1", "monitor/newt_mean", "monitor/seconds"} {
		if _, ok := r.Latest[k]; !ok {
			t.Errorf("metric %s not logged (have %v)", k, keys(r.Latest))
		}
	}
	cks, err := db.Checkpoints(ctx, r.ID)
	if err != nil || len(cks) != 2 || cks[0].Step != 3 || cks[1].Step != 6 {
		t.Fatalf("checkpoints %+v, %v", cks, err)
	}
	if want := filepath.Join(dir, "runs", r.ID, "checkpoints"); filepath.Dir(cks[1].Path) != want {
		t.Errorf("checkpoint in %s, want %s", cks[1].Path, want)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestTrainResumeByRunID stops a run at its time limit after one step, then resumes it by
// id prefix: the same run reaches the last step.
func TestTrainResumeByRunID(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runCLI(t, smokeTrainArgs(dir, "--set", "train.time_limit=1ns")...); code != 0 {
		t.Fatalf("first part: exit %d: %s", code, stderr)
	}
	ctx := context.Background()
	db := openTracker(t, dir)
	runs, _ := db.ListRuns(ctx, experiments.ListOptions{})
	if len(runs) != 1 || runs[0].Steps != 1 {
		t.Fatalf("after the time limit: %+v", runs)
	}
	id := runs[0].ID
	code, _, stderr := runCLI(t, smokeTrainArgs(dir, "--resume", id[:8])...)
	if code != 0 {
		t.Fatalf("resume: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "resuming run "+id+" from step 1") {
		t.Errorf("stderr does not say what it resumed: %s", stderr)
	}
	runs, _ = db.ListRuns(ctx, experiments.ListOptions{})
	if len(runs) != 1 || runs[0].ID != id || runs[0].Steps != 6 || runs[0].Status != experiments.StatusFinished {
		t.Fatalf("after resuming: %+v", runs[0])
	}
}

func TestTrainResumeRefusals(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runCLI(t, smokeTrainArgs(dir, "--set", "train.time_limit=1ns")...); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"changed lr", []string{"--resume", "auto", "--set", "train.lr=0.5"}, "train.lr: 0.00266 → 0.5"},
		{"changed width", []string{"--resume", "auto", "--set", "model.width=6"}, "model.width: 4 → 6"},
		{"unknown run", []string{"--resume", "ffffffff"}, "not a checkpoint file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, smokeTrainArgs(dir, tc.args...)...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}
	code, _, stderr := runCLI(t, smokeTrainArgs(dir, "--resume", "auto", "--set", "train.lr=0.5", "--resume-force")...)
	if code != 0 {
		t.Fatalf("--resume-force: exit %d: %s", code, stderr)
	}
}

// TestTrainCancelMarksKilled cancels natssl train (as SIGINT does through the root
// command's context) once it has logged a step: the run ends KILLED with a checkpoint.
func TestTrainCancelMarksKilled(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int)
	var stderr bytes.Buffer
	go func() {
		done <- run(ctx, smokeTrainArgs(dir, "--set", "train.steps=100000", "--set", "train.checkpoint_every=0"),
			strings.NewReader(""), &bytes.Buffer{}, &stderr)
	}()
	db := openTracker(t, dir)
	deadline := time.Now().Add(60 * time.Second)
	for {
		runs, err := db.ListRuns(context.Background(), experiments.ListOptions{})
		if err == nil && len(runs) == 1 && runs[0].Steps >= 1 {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("no step logged in a minute: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, stderr.String())
	}
	runs, _ := db.ListRuns(context.Background(), experiments.ListOptions{})
	if runs[0].Status != experiments.StatusKilled {
		t.Fatalf("status %s: %s", runs[0].Status, stderr.String())
	}
	cks, err := db.Checkpoints(context.Background(), runs[0].ID)
	if err != nil || len(cks) != 1 || cks[0].Step < 1 {
		t.Fatalf("checkpoints %+v, %v", cks, err)
	}
}

func TestBenchTrainJSONKeys(t *testing.T) {
	code, stdout, stderr := runCLI(t, "bench", "train", "--config", "smoke", "--replicas", "2", "--steps", "1", "--warmup", "0", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	if strings.Contains(stdout, "PyTorch") {
		t.Errorf("bench train names a figure it did not measure:\n%s", stdout)
	}
	want := []string{"batch", "comm_s", "device", "gflops", "image_size", "images_per_s", "model", "precision", "replicas", "sgemm_gflops", "step_s", "world_size"}
	if k := keys(got); strings.Join(k, ",") != strings.Join(want, ",") {
		t.Fatalf("keys %v, want %v", k, want)
	}
	if got["replicas"].(float64) != 2 || got["step_s"].(float64) <= 0 || got["gflops"].(float64) <= 0 ||
		got["world_size"].(float64) != 1 || got["comm_s"].(float64) != 0 || got["device"] != "cpu" || got["precision"] != "fp32" {
		t.Fatalf("values %v", got)
	}
	if code, _, _ := runCLI(t, "bench", "train", "--config", "smoke", "--replicas", "3"); code != 2 {
		t.Fatalf("batch 16 over 3 replicas: exit %d, want 2", code)
	}
}

// TestSmokeFromAnotherFolder: the smoke preset runs from any folder (its images are embedded),
// writing its runs beside where it was started into the default tracker, which runs list and
// eval --run then read without --db.
func TestSmokeFromAnotherFolder(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	code, stdout, stderr := runCLI(t, "train", "--config", "smoke", "--set", "data.image_size=16", "--set", "model.width=4")
	_ = stdout
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "runs", "natssl.db")); err != nil {
		t.Error(err)
	}
	code, stdout, stderr = runCLI(t, "runs", "list")
	if code != 0 || !strings.Contains(stdout, "smoke") {
		t.Fatalf("runs list after the smoke preset: exit %d: %s%s", code, stdout, stderr)
	}
	code, _, stderr = runCLI(t, "eval", "--config", "smoke", "--run", "smoke", "--set", "eval.image_size=16")
	if code != 0 {
		t.Fatalf("eval --run smoke: exit %d: %s", code, stderr)
	}
}
