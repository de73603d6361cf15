package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEvaluationsPerClassifier: scoring a run again with another classifier keeps the first
// evaluation; runs show and the report show the latest of each, with the suite's file and
// hash, and no chosen C as a score.
func TestEvaluationsPerClassifier(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "runs.db")
	if code, _, stderr := runCLI(t, smokeTrainArgs(dir)...); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	sets := []string{"--db", db, "--config", "smoke", "--newt", smokeCSV, "--images", smokeImages, "--set", "data.image_size=16", "--set", "model.width=4"}
	for _, c := range []string{"linearsvc", "logreg"} {
		if code, _, stderr := runCLI(t, append([]string{"eval", "--run", "smoke", "--classifier", c}, sets...)...); code != 0 {
			t.Fatalf("eval %s: exit %d: %s", c, code, stderr)
		}
	}
	code, stdout, stderr := runCLI(t, "runs", "show", "latest", "--db", db, "--json")
	if code != 0 {
		t.Fatalf("runs show: exit %d: %s", code, stderr)
	}
	var rec struct {
		Evaluations []struct {
			Classifier     string `json:"classifier"`
			SuitePath      string `json:"suite_path"`
			SuiteSHA256    string `json:"suite_sha256"`
			CheckpointPath string `json:"checkpoint_path"`
		} `json:"evaluations"`
		Summaries []struct {
			Classifier string `json:"classifier"`
			Metric     string `json:"metric"`
		} `json:"eval_summaries"`
	}
	if err := json.Unmarshal([]byte(stdout), &rec); err != nil {
		t.Fatal(err)
	}
	csv, err := os.ReadFile(smokeCSV)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(csv)
	abs, _ := filepath.Abs(smokeCSV)
	if len(rec.Evaluations) != 2 || rec.Evaluations[0].Classifier != "linearsvc" || rec.Evaluations[1].Classifier != "logreg" {
		t.Fatalf("evaluations %+v: want linearsvc and logreg kept", rec.Evaluations)
	}
	for _, e := range rec.Evaluations {
		if e.SuitePath != abs || e.SuiteSHA256 != hex.EncodeToString(sum[:]) || !strings.HasSuffix(e.CheckpointPath, "step-000000006.ckpt") {
			t.Errorf("evaluation %+v: want the suite %s (sha256 %x) and the step-6 checkpoint", e, abs, sum[:4])
		}
	}
	for _, s := range rec.Summaries {
		if s.Metric != "accuracy" {
			t.Errorf("a summary of %q: only accuracy is a score", s.Metric)
		}
	}
	code, stdout, _ = runCLI(t, "runs", "show", "smoke", "--db", db)
	if code != 0 || !strings.Contains(stdout, "evaluations on newt (2 in all; the latest of each classifier)") ||
		!strings.Contains(stdout, "linearsvc") || !strings.Contains(stdout, "logreg") || !strings.Contains(stdout, "labels.csv (sha256 "+hex.EncodeToString(sum[:])[:12]) {
		t.Errorf("runs show:\n%s", stdout)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"report", "smoke"}, "with the linearsvc probe"},
		{[]string{"report", "smoke", "--classifier", "logreg"}, "with the logreg probe"},
	} {
		code, stdout, stderr := runCLI(t, append(tt.args, "--db", db)...)
		if code != 0 || !strings.Contains(stdout, tt.want) || !strings.Contains(stdout, "### Evaluations recorded") ||
			!strings.Contains(stdout, "| logreg |") || !strings.Contains(stdout, "| linearsvc |") {
			t.Errorf("%v: exit %d %s\n%s", tt.args, code, stderr, stdout)
		}
	}
	if code, _, stderr := runCLI(t, "report", "smoke", "--classifier", "svm", "--db", db); code != 2 || !strings.Contains(stderr, "--classifier") {
		t.Errorf("report --classifier svm: exit %d %q", code, stderr)
	}
}
