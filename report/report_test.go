package report

import (
	"bytes"
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestConfigDiffOnly(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name     string
		runs     []string
		full     bool
		wantKeys []string
	}{
		{"baseline vs wider", []string{"baseline", "wider"}, false, []string{"model.width", "run.name", "train.lr"}},
		{"broken differs only by name", []string{"baseline", "broken"}, false, []string{"run.name"}},
		{"lr shared by wider and live", []string{"wider", "live"}, false, []string{"model.width", "run.name"}},
		{"one run", []string{"baseline"}, false, nil},
		{"full", []string{"baseline", "wider"}, true, configKeys()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := f.build(t, Options{Full: tt.full}, tt.runs...)
			if !reflect.DeepEqual(rep.Config.Keys, tt.wantKeys) {
				t.Errorf("keys %v, want %v", rep.Config.Keys, tt.wantKeys)
			}
			if rep.Config.TotalKeys != len(configKeys()) {
				t.Errorf("total keys %d, want %d", rep.Config.TotalKeys, len(configKeys()))
			}
		})
	}
	rep := f.build(t, Options{}, "baseline", "wider", "live")
	want := [][]string{{"32", "64", "32"}, {"baseline", "wider", "live"}, {"0.001", "0.5", "0.5"}}
	if !reflect.DeepEqual(rep.Config.Values, want) {
		t.Errorf("values %v, want %v", rep.Config.Values, want)
	}
}

func configKeys() []string {
	var keys []string
	for _, kv := range configs.Default().Flatten() {
		keys = append(keys, kv.Key)
	}
	return keys
}

func TestConfigDiffMissingKey(t *testing.T) {
	runs := []*Run{
		{RunRecord: &experiments.RunRecord{Params: []configs.KeyValue{{Key: "a", Value: "1"}, {Key: "b", Value: ""}}}},
		{RunRecord: &experiments.RunRecord{Params: []configs.KeyValue{{Key: "a", Value: "1"}}}},
	}
	got := configTable(runs, false)
	if !reflect.DeepEqual(got.Keys, []string{"b"}) || !got.Missing[0][1] || got.Missing[0][0] {
		t.Errorf("a key one run lacks must show as a difference: %+v", got)
	}
}

func TestTrainingAndMetadata(t *testing.T) {
	f := newFixture(t)
	rep := f.build(t, Options{}, "baseline", "wider", "broken", "live")
	labels := []string{}
	for _, r := range rep.Runs {
		labels = append(labels, r.Label)
	}
	if !reflect.DeepEqual(labels, []string{"baseline", "wider", "broken", "live"}) || !rep.Runs[0].Baseline || rep.Runs[1].Baseline {
		t.Fatalf("runs %v", labels)
	}
	tests := []struct {
		run                        string
		steps, seen                int64
		finalLoss, bestLoss        float64
		bestStep                   int64
		finalIPS, meanIPS, bestIPS float64
		marks                      []string
	}{
		{"baseline", 30, 30 * 256, 3.0, 3.0, 30, 100, 101, 102, nil},
		{"wider", 30, 30 * 256, 2.5, 2.5, 30, 80, 81, 82, nil},
		{"broken", 12, 12 * 256, math.NaN(), 4.9, 11, 90, 91, 92, []string{"failed: loss is NaN at step 12", "no evaluation"}},
		{"live", 5, 5 * 256, 6.5, 6.5, 5, 122, 121.2, 122, []string{"still running", "no evaluation"}},
	}
	for i, tt := range tests {
		t.Run(tt.run, func(t *testing.T) {
			r := rep.Runs[i]
			s := r.Training
			if r.Steps != tt.steps || r.ImagesSeen != tt.seen {
				t.Errorf("steps %d images %d, want %d %d", r.Steps, r.ImagesSeen, tt.steps, tt.seen)
			}
			if !(near(s.FinalLoss, tt.finalLoss) || math.IsNaN(tt.finalLoss) && math.IsNaN(s.FinalLoss)) ||
				!near(s.BestLoss, tt.bestLoss) || s.BestLossStep != tt.bestStep {
				t.Errorf("loss final %v best %v@%d, want %v %v@%d", s.FinalLoss, s.BestLoss, s.BestLossStep, tt.finalLoss, tt.bestLoss, tt.bestStep)
			}
			if !near(s.FinalImagesPerS, tt.finalIPS) || !near(s.MeanImagesPerS, tt.meanIPS) || !near(s.BestImagesPerS, tt.bestIPS) {
				t.Errorf("images/s %v %v %v, want %v %v %v", s.FinalImagesPerS, s.MeanImagesPerS, s.BestImagesPerS, tt.finalIPS, tt.meanIPS, tt.bestIPS)
			}
			if !reflect.DeepEqual(r.Marks(), tt.marks) {
				t.Errorf("marks %q, want %q", r.Marks(), tt.marks)
			}
		})
	}
}

func TestNeWTComparison(t *testing.T) {
	f := newFixture(t)
	rep := f.build(t, Options{TopTasks: 2}, "baseline", "wider", "broken")
	e := rep.Eval
	if e == nil {
		t.Fatal("no evaluation comparison")
	}
	var base, wider float64
	for _, tk := range fixtureTasks {
		base += tk.base / 6
		wider += tk.wider / 6
	}
	o := e.Overall
	if !o[0].Has || !near(o[0].Mean, base) || !near(o[0].Delta, 0) || o[0].Tasks != 6 {
		t.Errorf("baseline overall %+v, want mean %v", o[0], base)
	}
	if !o[1].Has || !near(o[1].Mean, wider) || !near(o[1].Delta, wider-base) || o[1].Won != 3 || o[1].Lost != 2 || o[1].Tied != 1 {
		t.Errorf("wider overall %+v, want mean %v delta %v won 3 lost 2 tied 1", o[1], wider, wider-base)
	}
	if o[2].Has || !math.IsNaN(o[2].Delta) {
		t.Errorf("broken overall %+v, want not evaluated", o[2])
	}
	// The baseline's last checkpoint (30) is compared, not its first (10, all 0.5), and it is also its best.
	if b := rep.Runs[0]; b.LastEval.CheckpointStep != 30 || b.BestEval.CheckpointStep != 30 {
		t.Errorf("baseline last %d best %d", b.LastEval.CheckpointStep, b.BestEval.CheckpointStep)
	}
	type group struct {
		cluster, sub      string
		base, wider, diff float64
	}
	wantClusters := []group{
		{"Birds", "", 0.7, 0.7, 0},
		{"Fungi", "", 0.4, 0.2, -0.2},
		{"Plants", "", 0.7, 0.725, 0.025},
	}
	wantSubs := []group{
		{"Birds", "age", 0.7, 0.55, -0.15},
		{"Birds", "species", 0.7, 0.775, 0.075},
		{"Fungi", "context", 0.4, 0.2, -0.2},
		{"Plants", "health", 0.5, 0.5, 0},
		{"Plants", "species", 0.9, 0.95, 0.05},
	}
	check := func(rows []GroupRow, want []group) {
		t.Helper()
		if len(rows) != len(want) {
			t.Fatalf("%d rows, want %d", len(rows), len(want))
		}
		for i, w := range want {
			r := rows[i]
			if r.Cluster != w.cluster || r.Subcluster != w.sub || !near(r.Cells[0].Mean, w.base) || !near(r.Cells[1].Mean, w.wider) ||
				!near(r.Cells[1].Delta, w.diff) || r.Cells[2].Has {
				t.Errorf("row %d: %s/%s %+v, want %+v", i, r.Cluster, r.Subcluster, r.Cells, w)
			}
		}
	}
	check(e.Clusters, wantClusters)
	check(e.Subclusters, wantSubs)

	gains := []string{}
	for _, d := range e.Gains {
		gains = append(gains, d.Task)
	}
	losses := []string{}
	for _, d := range e.Losses {
		losses = append(losses, d.Task)
	}
	if !reflect.DeepEqual(gains, []string{"bird_species_a", "bird_species_b"}) || !reflect.DeepEqual(losses, []string{"fungi_edible", "bird_age"}) {
		t.Errorf("gains %v losses %v", gains, losses)
	}
	if d := e.Losses[0]; d.Run != "wider" || d.Cluster != "Fungi" || !near(d.Baseline, 0.4) || !near(d.Value, 0.2) || !near(d.Gap, -0.2) {
		t.Errorf("largest loss %+v", d)
	}
}

func TestBaselineOption(t *testing.T) {
	f := newFixture(t)
	rep := f.build(t, Options{Baseline: f.ids["wider"]}, "baseline", "broken")
	var labels []string
	for _, r := range rep.Runs {
		labels = append(labels, r.Label)
	}
	if !reflect.DeepEqual(labels, []string{"wider", "baseline", "broken"}) || !rep.Runs[0].Baseline {
		t.Fatalf("runs %v: the baseline must come first", labels)
	}
	if o := rep.Eval.Overall[1]; o.Won != 2 || o.Lost != 3 || o.Tied != 1 {
		t.Errorf("baseline vs wider: %+v, want won 2 lost 3 tied 1", o)
	}
	// Unevaluated baseline: no differences, but each run's own means are shown.
	rep = f.build(t, Options{}, "live", "wider")
	if o := rep.Eval.Overall; o[0].Has || !o[1].Has || !math.IsNaN(o[1].Delta) || len(rep.Eval.Gains) != 0 {
		t.Errorf("unevaluated baseline: %+v", o)
	}
	var md bytes.Buffer
	if err := rep.Markdown(&md, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "The baseline has no evaluation") {
		t.Errorf("markdown does not say the baseline was not evaluated:\n%s", md.String())
	}
}

func TestNoEvaluations(t *testing.T) {
	f := newFixture(t)
	rep := f.build(t, Options{}, "broken", "live")
	if rep.Eval != nil {
		t.Errorf("eval comparison %+v for runs without evaluations", rep.Eval)
	}
	var files []string
	for _, p := range rep.Plots {
		files = append(files, p.File)
	}
	if !reflect.DeepEqual(files, []string{"loss.svg", "images_per_s.svg"}) {
		t.Errorf("plots %v: NeWT plots must be left out when nothing was evaluated", files)
	}
}

func TestUnknownRun(t *testing.T) {
	f := newFixture(t)
	db, err := experiments.OpenExisting(context.Background(), f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = Build(context.Background(), db, []string{f.ids["baseline"], "feedfacefeedfacefeedfacefeedface"}, Options{})
	if !errors.Is(err, experiments.ErrNotFound) || !strings.Contains(err.Error(), "feedfacefeedface") {
		t.Errorf("unknown run: %v, want ErrNotFound naming it", err)
	}
}

func TestMarkdownAndHTML(t *testing.T) {
	f := newFixture(t)
	rep := f.build(t, Options{}, "baseline", "wider", "broken", "live")
	var md bytes.Buffer
	if err := rep.Markdown(&md, true); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| model.width | 32 | 64 | 32 | 32 |",
		"| wider | 30 | 6 | 0.6250 | – | -0.0250 | – | 1 | 0.6250 (30) | 3 | 2 | 1 |",
		"⚠ wider: evaluated without per-image outcomes (before natssl recorded them), so without intervals",
		"wider differs from baseline by -2.5 points (no interval: baseline has no per-image outcomes); 3 of 6 tasks (1 tied); p = 1.",
		"| Fungi | 0.4000 | 0.2000 (-0.2000) | – | – |",
		"| broken | not evaluated |",
		"⚠ broken: failed: loss is NaN at step 12",
		"⚠ live: still running",
		"| broken | ", "| FAILED |",
		"![Training loss against step](loss.svg)",
		"![NeWT per-task accuracy against the baseline](newt_tasks.svg)",
		"| baseline | 30 | 61,440 | feedface0011 | runs/baseline/step-30.ckpt |",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	var terminal bytes.Buffer
	if err := rep.Markdown(&terminal, false); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(terminal.String(), ".svg)") {
		t.Error("markdown for the terminal references SVG files")
	}

	var page bytes.Buffer
	if err := rep.HTML(&page); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	if n := strings.Count(html, `<img src="data:image/svg`); n != 4 {
		t.Errorf("%d embedded plots, want 4", n)
	}
	for _, bad := range []string{"http://", "https://", "ZgotmplZ"} {
		if strings.Contains(strings.ReplaceAll(html, "http://www.w3.org", ""), bad) {
			t.Errorf("html contains %q: not self-contained or a template value was rejected", bad)
		}
	}
	for _, want := range []string{`<td class="num loss">0.2000 (-0.2000)</td>`, `<td class="mark">FAILED</td>`, "loss is NaN at step 12"} {
		if !strings.Contains(html, want) {
			t.Errorf("html lacks %q", want)
		}
	}
}
