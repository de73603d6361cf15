package cli

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/experiments/metric"
)

// trackerFixture records three runs through the experiments API: a finished one with NeWT
// results, a failed one, and a RUNNING one whose heartbeat stopped long ago (stale).
func trackerFixture(t *testing.T) (path string, ids map[string]string) {
	t.Helper()
	ctx := context.Background()
	path = filepath.Join(t.TempDir(), "natssl.db")
	db, err := experiments.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ids = map[string]string{}
	cfg := configs.Default()
	yml, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"good", "broken", "crashed"} {
		r, err := db.CreateRun(ctx, experiments.RunSpec{Name: name, ConfigYAML: string(yml), Params: cfg.Flatten(), Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = r.ID()
		for step := int64(1); step <= 20; step++ {
			loss := 4 - float64(step)/10
			if name == "broken" && step == 20 {
				loss = math.NaN()
			}
			if err := r.LogMetrics(ctx, step, map[string]float64{metric.Loss: loss, metric.ImagesPerS: 250}); err != nil {
				t.Fatal(err)
			}
		}
		switch name {
		case "good":
			if err := r.RecordCheckpoint(ctx, 20, "runs/good/step-20.ckpt", strings.Repeat("ab", 32), 4096); err != nil {
				t.Fatal(err)
			}
			if err := r.Finish(ctx, experiments.StatusFinished, ""); err != nil {
				t.Fatal(err)
			}
			if err := db.RecordEvals(ctx, r.ID(), []experiments.Eval{
				{CheckpointStep: 20, Suite: "newt", Task: "t1", Cluster: "Birds", Subcluster: "species", Metric: "accuracy", Value: 0.9},
				{CheckpointStep: 20, Suite: "newt", Task: "t2", Cluster: "Birds", Subcluster: "age", Metric: "accuracy", Value: 0.7},
				{CheckpointStep: 20, Suite: "newt", Task: "t3", Cluster: "Plants", Subcluster: "health", Metric: "accuracy", Value: 0.5},
			}); err != nil {
				t.Fatal(err)
			}
		case "broken":
			if err := r.Finish(ctx, experiments.StatusFailed, "loss is NaN at step 20"); err != nil {
				t.Fatal(err)
			}
		case "crashed":
			if err := r.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	s, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Exec(`UPDATE runs SET heartbeat_at = '2020-01-01T00:00:00.000Z' WHERE id = ?`, ids["crashed"]); err != nil {
		t.Fatal(err)
	}
	return path, ids
}

func TestRunsList(t *testing.T) {
	path, ids := trackerFixture(t)
	code, stdout, stderr := runCLI(t, "runs", "list", "--db", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 4 {
		t.Fatalf("want header + 3 runs:\n%s", stdout)
	}
	want := map[string][]string{
		"good":    {ids["good"][:12], "FINISHED", "20", "2.0000", "0.7000"},
		"broken":  {ids["broken"][:12], "FAILED", "20", "NaN", "-"},
		"crashed": {ids["crashed"][:12], "RUNNING (stale)", "20", "2.0000", "-"},
	}
	for _, line := range lines[1:] {
		name := strings.Fields(line)[1]
		for _, w := range want[name] {
			if !strings.Contains(line, w) {
				t.Errorf("%s row %q lacks %q", name, line, w)
			}
		}
	}

	code, stdout, stderr = runCLI(t, "runs", "list", "--json", "--db", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var runs []map[string]any
	if err := json.Unmarshal([]byte(stdout), &runs); err != nil {
		t.Fatalf("runs list --json: %v\n%s", err, stdout)
	}
	if len(runs) != 3 {
		t.Fatalf("%d runs", len(runs))
	}
	byName := map[string]map[string]any{}
	for _, r := range runs {
		byName[r["name"].(string)] = r
	}
	if r := byName["good"]; math.Abs(r["newt_mean"].(float64)-0.7) > 1e-12 || r["newt_tasks"] != 3.0 || r["loss"] != 2.0 || r["status"] != "FINISHED" {
		t.Errorf("good: %v", r)
	}
	if r := byName["broken"]; r["loss"] != nil || r["error"] != "loss is NaN at step 20" || r["newt_mean"] != nil {
		t.Errorf("broken: %v", r)
	}
	if r := byName["crashed"]; r["stale"] != true || r["status"] != "RUNNING" || r["ended_at"] != nil {
		t.Errorf("crashed: %v", r)
	}
}

func TestRunsShow(t *testing.T) {
	path, ids := trackerFixture(t)
	code, stdout, stderr := runCLI(t, "runs", "show", ids["good"][:6], "--db", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, w := range []string{ids["good"], "FINISHED", "runs/good/step-20.ckpt", "abababababab", "evaluations on newt",
		"MEAN ACCURACY", "0.7000", "Birds", "0.8000", "Plants", "0.5000", "images_per_s", "config:", "backbone:"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("runs show lacks %q:\n%s", w, stdout)
		}
	}
	code, stdout, stderr = runCLI(t, "runs", "show", ids["broken"], "--json", "--db", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rec struct {
		ID            string            `json:"id"`
		Status        string            `json:"status"`
		Error         string            `json:"error"`
		Params        map[string]string `json:"params"`
		LatestMetrics map[string]struct {
			Step  int64    `json:"step"`
			Value *float64 `json:"value"`
		} `json:"latest_metrics"`
	}
	if err := json.Unmarshal([]byte(stdout), &rec); err != nil {
		t.Fatalf("runs show --json: %v\n%s", err, stdout)
	}
	if rec.ID != ids["broken"] || rec.Status != "FAILED" || rec.Error == "" || rec.Params["train.optimizer"] == "" {
		t.Errorf("record %+v", rec)
	}
	if l := rec.LatestMetrics["loss"]; l.Step != 20 || l.Value != nil {
		t.Errorf("latest loss %+v, want step 20 value null (NaN)", l)
	}
}

func TestRunsErrors(t *testing.T) {
	path, _ := trackerFixture(t)
	dir := t.TempDir()
	notDB := filepath.Join(dir, "notes.db")
	if err := os.WriteFile(notDB, []byte("not sqlite\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "nope", "run.db")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		mention  string
	}{
		{"unknown id", []string{"runs", "show", "ffffffff", "--db", path}, 2, `run "ffffffff"`},
		{"missing database", []string{"runs", "list", "--db", missing}, 1, missing},
		{"not a database", []string{"runs", "list", "--db", notDB}, 1, "not a SQLite database"},
		{"no run id", []string{"runs", "show", "--db", path}, 2, "arg(s)"},
		{"bad config", []string{"runs", "list", "--set", "run.nope=1"}, 2, "run.nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := os.ReadFile(notDB)
			code, _, stderr := runCLI(t, tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.mention) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d stderr %q; want exit %d and one line with %q", code, stderr, tt.wantCode, tt.mention)
			}
			if after, _ := os.ReadFile(notDB); !bytes.Equal(before, after) {
				t.Error("a file that is not a database was modified")
			}
		})
	}
	if _, err := os.Stat(filepath.Dir(missing)); !os.IsNotExist(err) {
		t.Errorf("runs list created %s", filepath.Dir(missing))
	}
}
