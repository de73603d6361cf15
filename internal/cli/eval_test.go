package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/probe"
)

const smokeCSV = "../../testdata/smoke-newt/labels.csv"

// smokeFeatures writes features for the smoke suite: 8 numbers per image, the first carrying
// the label so that the probe has something to find, the rest a pattern of the row number.
func smokeFeatures(t *testing.T, dir string) (string, *probe.Suite) {
	t.Helper()
	s, err := probe.LoadSuite(smokeCSV)
	if err != nil {
		t.Fatal(err)
	}
	label := map[string]int{}
	for _, task := range s.Tasks {
		for _, set := range [][]probe.Sample{task.Train, task.Test} {
			for _, smp := range set {
				label[smp.ID] = smp.Label
			}
		}
	}
	f := &probe.Features{IDs: s.IDs, Dim: 8}
	for i, id := range s.IDs {
		for j := 0; j < 8; j++ {
			v := float32((i*7+j*13)%11) / 11
			if j == 0 {
				v += float32(label[id])
			}
			f.Data = append(f.Data, v)
		}
	}
	p := filepath.Join(dir, "feat.npy")
	if err := probe.WriteNPY(p, f); err != nil {
		t.Fatal(err)
	}
	return p, s
}

func TestEvalFeatures(t *testing.T) {
	dir := t.TempDir()
	feat, suite := smokeFeatures(t, dir)
	db := filepath.Join(dir, "runs.db")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"eval", "--config", "smoke", "--db", db, "--features", feat, "--newt", smokeCSV, "--json"},
		strings.NewReader(""), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"fmnist_tshirt_vs_shirt", "mean per cluster", "mean accuracy over 2 tasks (linearsvc): 1.0000", "recorded against run"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var res struct {
		RunID string  `json:"run_id"`
		Mean  float64 `json:"mean_accuracy"`
		Tasks []probe.TaskResult
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("last line is not JSON: %v", err)
	}
	if res.Mean != 1 || len(res.Tasks) != len(suite.Tasks) {
		t.Errorf("JSON %+v", res)
	}

	tr, err := experiments.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	sums, err := tr.EvalSummaries(context.Background(), res.RunID, experiments.SuiteNeWT, experiments.MetricAccuracy)
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 1 || sums[0].Tasks != 2 || sums[0].Mean != 1 {
		t.Errorf("tracker summaries %+v", sums)
	}
	rec, err := tr.GetRun(context.Background(), res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != experiments.StatusFinished || rec.Tags["kind"] != "features" {
		t.Errorf("run %s: status %s, tags %v", rec.ID, rec.Status, rec.Tags)
	}
}

func TestEvalErrors(t *testing.T) {
	dir := t.TempDir()
	feat, _ := smokeFeatures(t, dir)
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("id,task_cluster,task_subcluster,task,label,text_label,split,height,width\na,c,,t,3,x,train,1,1\n"), 0o644)
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"nothing to score", []string{"eval"}, 2, "eval: give"},
		{"bad classifier", []string{"eval", "--features", feat, "--newt", smokeCSV, "--classifier", "rbf"}, 2, `unknown classifier "rbf"`},
		{"bad csv", []string{"eval", "--features", feat, "--newt", bad}, 1, `bad.csv:2: id "a": label "3" is not 0 or 1`},
		{"features file missing", []string{"eval", "--features", filepath.Join(dir, "none.npy"), "--newt", smokeCSV}, 1, "none.npy"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append(c.args, "--config", "smoke", "--db", filepath.Join(dir, "runs.db"))
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
			if code != c.code || !strings.Contains(stderr.String(), c.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), c.code, c.want)
			}
		})
	}
}
