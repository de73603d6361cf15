package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/probe"
)

const smokeCSV = "../../configs/smoke/newt/labels.csv"

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

const smokeImages = "../../configs/smoke/newt/images"

// smokeTarGz packs the smoke suite's images as newt2021_images.tar.gz does (<dir>/<id>.jpg),
// with the system's tar.
func smokeTarGz(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "images.tar.gz")
	if out, err := exec.Command("tar", "-czf", p, "-C", filepath.Dir(smokeImages), filepath.Base(smokeImages)).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	return p
}

// TestEvalRandomInit runs the real encoder path on the smoke suite, from a folder and from a
// tar.gz: the same features either way, results in the tracker as a random-init run.
func TestEvalRandomInit(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "runs.db")
	var feats []*probe.Features
	for i, images := range []string{smokeImages, smokeTarGz(t, dir)} {
		out := filepath.Join(dir, "f"+string(rune('0'+i))+".npy")
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"eval", "--config", "smoke", "--db", db, "--random-init", "--newt", smokeCSV,
			"--images", images, "--features-out", out, "--json", "--workers", "2"}, strings.NewReader(""), &stdout, &stderr)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", images, code, stderr.String())
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		var res struct {
			RunID string  `json:"run_id"`
			Mean  float64 `json:"mean_accuracy"`
		}
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
			t.Fatalf("last line is not JSON: %v\n%s", err, stdout.String())
		}
		if res.Mean < 0.5 {
			t.Errorf("%s: random-init mean accuracy %.3f on T-shirt/shirt and sneaker/boot", images, res.Mean)
		}
		tr, err := experiments.Open(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := tr.GetRun(context.Background(), res.RunID)
		if err != nil {
			tr.Close()
			t.Fatal(err)
		}
		outcomes, err := tr.Outcomes(context.Background(), res.RunID, 0, experiments.SuiteNeWT)
		tr.Close()
		if err != nil {
			t.Fatal(err)
		}
		if rec.Tags["kind"] != "random-init" || rec.Status != experiments.StatusFinished || len(rec.Evals) != 4 {
			t.Errorf("run %+v: want a finished random-init run with 2 tasks x (accuracy, C)", rec.RunInfo)
		}
		// Every test image's outcome is recorded with the evaluation, and they give its accuracy.
		right, n := map[string]float64{}, map[string]float64{}
		for _, o := range outcomes {
			n[o.Task]++
			if o.Correct() {
				right[o.Task]++
			}
		}
		for _, e := range rec.Evals {
			if e.Metric == experiments.MetricAccuracy && (n[e.Task] == 0 || right[e.Task]/n[e.Task] != e.Value) {
				t.Errorf("task %s: accuracy %v, outcomes %v of %v right", e.Task, e.Value, right[e.Task], n[e.Task])
			}
		}
		if len(outcomes) != 32 {
			t.Errorf("%d outcomes recorded, want one per test image (32)", len(outcomes))
		}
		f, err := probe.ReadNPY(out)
		if err != nil {
			t.Fatal(err)
		}
		feats = append(feats, f)
	}
	if len(feats[0].Data) != len(feats[1].Data) || len(feats[0].Data) == 0 {
		t.Fatalf("feature sizes %d and %d", len(feats[0].Data), len(feats[1].Data))
	}
	for i := range feats[0].Data {
		if feats[0].Data[i] != feats[1].Data[i] {
			t.Fatalf("folder and tar.gz give different features at %d", i)
		}
	}
}

func TestEvalMissingImages(t *testing.T) {
	dir := t.TempDir()
	imgs := filepath.Join(dir, "images")
	os.MkdirAll(imgs, 0o755)
	ents, _ := os.ReadDir(smokeImages)
	for i, e := range ents {
		if i == 0 || i == 5 {
			continue // two images missing
		}
		b, _ := os.ReadFile(filepath.Join(smokeImages, e.Name()))
		os.WriteFile(filepath.Join(imgs, e.Name()), b, 0o644)
	}
	args := []string{"eval", "--config", "smoke", "--db", filepath.Join(dir, "runs.db"), "--random-init", "--newt", smokeCSV, "--images", imgs}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "2 ids of the suite have no image") {
		t.Errorf("exit %d, stderr %q; want 1 and the count of missing images", code, stderr.String())
	}
	stdout.Reset()
	stderr.Reset()
	if code := run(context.Background(), append(args, "--skip-missing"), strings.NewReader(""), &stdout, &stderr); code != 0 || !strings.Contains(stderr.String(), "without 2 missing images") {
		t.Errorf("--skip-missing: exit %d, stderr %q", code, stderr.String())
	}
}

func TestBenchProbe(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"bench", "probe", "--config", "smoke", "--newt", smokeCSV, "--images", smokeImages, "--json"},
		strings.NewReader(""), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var r map[string]float64
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatalf("last line is not JSON: %v", err)
	}
	for _, k := range []string{"tasks", "features_s", "fit_s", "images_per_s"} {
		if _, ok := r[k]; !ok {
			t.Errorf("JSON lacks %q: %v", k, r)
		}
	}
	if r["tasks"] != 2 || r["images"] != 64 {
		t.Errorf("JSON %v", r)
	}
}

// TestEvalCheckpointAndRun trains the smoke preset for a few steps, then scores its checkpoint
// by --run and by --checkpoint (rows against the run and step) and, with another tracker that
// does not know the run, as a run of its own.
func TestEvalCheckpointAndRun(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "runs.db")
	sets := []string{"--config", "smoke", "--set", "data.source=../../configs/smoke/train", "--set", "run.out_dir=" + filepath.Join(dir, "runs")}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), append([]string{"train", "--db", db}, sets...), strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr.String())
	}
	tr, err := experiments.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := tr.ListRuns(context.Background(), experiments.ListOptions{})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs %v, %v", runs, err)
	}
	id := runs[0].ID
	ckpts, err := tr.Checkpoints(context.Background(), id)
	tr.Close()
	if err != nil || len(ckpts) == 0 {
		t.Fatalf("checkpoints %v, %v", ckpts, err)
	}
	last := ckpts[len(ckpts)-1]
	eval := func(db string, args ...string) (string, int64) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		args = append(append([]string{"eval", "--db", db, "--newt", smokeCSV, "--images", smokeImages, "--json"}, sets...), args...)
		if code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr.String())
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		var res struct {
			RunID string `json:"run_id"`
			Step  int64  `json:"checkpoint_step"`
		}
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
			t.Fatal(err)
		}
		return res.RunID, res.Step
	}
	for _, args := range [][]string{{"--run", id[:6]}, {"--checkpoint", last.Path}} {
		if got, step := eval(db, args...); got != id || step != last.Step {
			t.Errorf("%v: recorded against %s step %d, want %s step %d", args, got, step, id, last.Step)
		}
	}
	if got, step := eval(filepath.Join(dir, "other.db"), "--checkpoint", last.Path); got == id || step != last.Step {
		t.Errorf("unknown to the tracker: recorded against %s step %d, want a new run at step %d", got, step, last.Step)
	}
}
