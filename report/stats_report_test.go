package report

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/natssl/natssl/experiments"
)

func inInterval(iv Interval, v float64) bool { return iv.OK && iv.Lo <= v && v <= iv.Hi }

// TestReportTwoRuns compares two runs scored with per-image outcomes: every mean has its
// bootstrap interval, the difference its paired interval, each task its Wilson interval, and
// the sentence states it all.
func TestReportTwoRuns(t *testing.T) {
	f := newStatsFixture(t)
	rep := f.build(t, Options{}, "base-s1", "wide-s1")
	e := rep.Eval
	base, wide := statsMean(baseRight, 1), statsMean(wideRight, 1)
	o := e.Overall
	if !near(o[0].Mean, base) || !inInterval(o[0].CI, base) || o[0].CI.Hi-o[0].CI.Lo < 0.01 || o[0].DeltaCI.OK {
		t.Errorf("base overall %+v: want mean %v inside an interval, no difference interval", o[0], base)
	}
	if !near(o[1].Delta, wide-base) || !inInterval(o[1].DeltaCI, o[1].Delta) || o[1].DeltaCI.Lo < 0 {
		t.Errorf("wide overall %+v: want Δ %v inside a paired interval that stays >= 0 (wide is right wherever base is)", o[1], wide-base)
	}
	if o[1].Won != statsTasks || o[1].P != 2.0/1024 {
		t.Errorf("wide won %d, p %v; want 10 and 2/1024", o[1].Won, o[1].P)
	}
	if len(e.Paired) != 1 {
		t.Fatalf("%d paired comparisons, want 1", len(e.Paired))
	}
	c := e.Paired[0]
	want := fmt.Sprintf("wide-s1 beats base-s1 by %+.1f points [%+.1f, %+.1f]; 10 of 10 tasks; p = 0.002",
		100*(wide-base), 100*c.CI.Lo, 100*c.CI.Hi)
	if got := c.Sentence(); got != want || c.Unpaired != 0 {
		t.Errorf("sentence %q (unpaired %d), want %q", got, c.Unpaired, want)
	}
	for _, row := range e.Clusters {
		for j, cell := range row.Cells {
			if !inInterval(cell.CI, cell.Mean) || (j == 1) != cell.DeltaCI.OK {
				t.Errorf("cluster %s run %d: %+v", row.Cluster, j, cell)
			}
		}
	}
	for _, row := range e.Subclusters {
		if !inInterval(row.Cells[0].CI, row.Cells[0].Mean) {
			t.Errorf("subcluster %s/%s: %+v", row.Cluster, row.Subcluster, row.Cells[0])
		}
	}
	if len(e.Tasks) != statsTasks {
		t.Fatalf("%d task rows", len(e.Tasks))
	}
	for _, row := range e.Tasks {
		var i int
		fmt.Sscanf(row.Task, "task%d", &i)
		for j, right := range []func(int, int) int{baseRight, wideRight} {
			cell := row.Cells[j]
			if cell.Right != right(i, 1) || cell.N != statsN(i) || cell.CI != wilson(right(i, 1), statsN(i)) || row.Cluster != statsCluster(i) {
				t.Errorf("%s run %d: %+v, want %d of %d right with its Wilson interval", row.Task, j, cell, right(i, 1), statsN(i))
			}
		}
	}
	// No seed group holds two runs: no group section.
	if len(e.GroupComparisons) != 0 || len(e.Groups) != 2 {
		t.Errorf("groups %+v comparisons %+v", e.Groups, e.GroupComparisons)
	}

	// Seeded: the same intervals again, and a run's own interval whatever the other runs are.
	again := f.build(t, Options{}, "base-s1", "wide-s1")
	if fmt.Sprintf("%+v", again.Eval.Overall) != fmt.Sprintf("%+v", e.Overall) { // Sprint: NaN p-values compare equal
		t.Errorf("a second report differs: %+v, %+v", again.Eval.Overall, e.Overall)
	}
	alone := f.build(t, Options{}, "wide-s1", "base-s2")
	if alone.Eval.Overall[0].CI != o[1].CI {
		t.Errorf("wide-s1's interval %+v alone, %+v beside base-s1", alone.Eval.Overall[0].CI, o[1].CI)
	}
	// Keyed by the outcomes, not the run ids: a run trained again from the same seed and config,
	// which answers every image as before, has the same intervals, alone and beside the baseline.
	rerun := f.build(t, Options{}, "base-s1", "wide-s1-again")
	if got := rerun.Eval.Overall[1]; got.CI != o[1].CI || got.DeltaCI != o[1].DeltaCI || rerun.Eval.Paired[0].CI != e.Paired[0].CI {
		t.Errorf("wide-s1 trained again: %+v (paired %+v), want the intervals of wide-s1: %+v (paired %+v)",
			got, rerun.Eval.Paired[0].CI, o[1], e.Paired[0].CI)
	}
	for i, row := range rerun.Eval.Clusters {
		if row.Cells[1].CI != e.Clusters[i].Cells[1].CI || row.Cells[1].DeltaCI != e.Clusters[i].Cells[1].DeltaCI {
			t.Errorf("cluster %s: wide-s1 trained again %+v, wide-s1 %+v", row.Cluster, row.Cells[1], e.Clusters[i].Cells[1])
		}
	}
	other := f.build(t, Options{Seed: 9}, "base-s1", "wide-s1")
	if other.Eval.Overall[0].CI == o[0].CI {
		t.Error("another seed gives the same interval")
	}

	var md bytes.Buffer
	if err := rep.Markdown(&md, true); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| run | checkpoint | tasks | mean | 95% CI | Δ baseline | Δ 95% CI | p (sign test) |",
		fmt.Sprintf("| wide-s1 | 100 | 10 | %.4f | [%.4f, %.4f] | %+.4f | [%+.4f, %+.4f] | 0.002 |", wide, o[1].CI.Lo, o[1].CI.Hi, wide-base, o[1].DeltaCI.Lo, o[1].DeltaCI.Hi),
		"### Paired comparison with the baseline",
		"- " + want + ".",
		"2,000 resamples, seed 0",
		fmt.Sprintf("| task00 | Birds | age | 40 | %.4f [%.4f, %.4f] |", statsAccuracy(baseRight, 0, 1), wilson(baseRight(0, 1), 40).Lo, wilson(baseRight(0, 1), 40).Hi),
		"![Difference to the baseline with 95% intervals, overall and per cluster](newt_delta.svg)",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if strings.Contains(md.String(), "### Seed groups") || strings.Contains(md.String(), "⚠") {
		t.Errorf("markdown has a seed section or a warning for two runs of other configs with outcomes:\n%s", md.String())
	}
}

// TestReportSeedGroups groups runs that differ only in seed, states mean ± sd over seeds, and
// compares the groups; a run evaluated without outcomes gets means and the sign test, and a
// mark instead of intervals.
func TestReportSeedGroups(t *testing.T) {
	f := newStatsFixture(t)
	rep := f.build(t, Options{}, "base-s1", "base-s2", "wide-s1", "wide-s2", "old")
	e := rep.Eval
	type group struct {
		label string
		runs  []int
		seeds []int64
		mean  float64
		sd    float64
	}
	bm, bsd := meanSD([]float64{statsMean(baseRight, 1), statsMean(baseRight, 2)})
	wm, wsd := meanSD([]float64{statsMean(wideRight, 1), statsMean(wideRight, 2)})
	want := []group{
		{"base", []int{0, 1}, []int64{1, 2}, bm, bsd},
		{"wide", []int{2, 3}, []int64{1, 2}, wm, wsd},
		{"old", []int{4}, []int64{1}, statsMean(baseRight, 1), math.NaN()},
	}
	if len(e.Groups) != len(want) {
		t.Fatalf("groups %+v, want %d", e.Groups, len(want))
	}
	for i, w := range want {
		g := e.Groups[i]
		if g.Label != w.label || !reflect.DeepEqual(g.Runs, w.runs) || !reflect.DeepEqual(g.Seeds, w.seeds) ||
			!near(g.Mean, w.mean) || !(near(g.SD, w.sd) || math.IsNaN(w.sd) && math.IsNaN(g.SD)) || len(g.ClusterMean) != 3 {
			t.Errorf("group %d: %+v, want %+v", i, g, w)
		}
	}
	if len(e.GroupComparisons) != 2 {
		t.Fatalf("group comparisons %+v, want wide and old against base", e.GroupComparisons)
	}
	gc := e.GroupComparisons[0]
	wantWide := fmt.Sprintf("wide (2 seeds) beats base (2 seeds) by %+.1f points [%+.1f, %+.1f]; 10 of 10 tasks; p = 0.002",
		100*(wm-bm), 100*gc.CI.Lo, 100*gc.CI.Hi)
	if got := gc.Sentence(); got != wantWide || !inInterval(gc.CI, gc.Delta) || gc.CI.Lo <= 0 {
		t.Errorf("group sentence %q, want %q with an interval above 0", got, wantWide)
	}
	// The group interval also resamples seeds, which differ by about 5 points here: the seed
	// part alone (about ±3.4 points) is larger than the test-image part of one pair's interval.
	pair := e.Paired[1] // wide-s1 against base-s1
	if pair.B != "wide-s1" || gc.CI.Hi-gc.CI.Lo < 1.5*(pair.CI.Hi-pair.CI.Lo) {
		t.Errorf("group interval %+v is not much wider than the pair's %+v (%s): are seeds resampled?", gc.CI, pair.CI, pair.B)
	}
	old := e.GroupComparisons[1]
	if old.CI.OK || !strings.Contains(old.Sentence(), "old (1 seed) differs from base (2 seeds) by") ||
		!strings.Contains(old.Sentence(), "(no interval: old has no per-image outcomes)") {
		t.Errorf("old against base: %q", old.Sentence())
	}
	// The old run: its mean and the sign test, no interval.
	if o := e.Overall[4]; o.CI.OK || o.DeltaCI.OK || !near(o.Mean, statsMean(baseRight, 1)) || math.IsNaN(o.P) {
		t.Errorf("old overall %+v", o)
	}
	if rep.Runs[4].NoOutcomes == "" || e.Tasks[0].Cells[4].CI.OK || !e.Tasks[0].Cells[4].Has {
		t.Errorf("old run: NoOutcomes %q, task cell %+v", rep.Runs[4].NoOutcomes, e.Tasks[0].Cells[4])
	}

	var md bytes.Buffer
	if err := rep.Markdown(&md, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"### Seed groups",
		"| group | runs | seeds | mean ± sd | Birds ± sd | Fungi ± sd | Plants ± sd |",
		fmt.Sprintf("| base | base-s1, base-s2 | 1, 2 | %.4f ± %.4f |", bm, bsd),
		fmt.Sprintf("| old | old | 1 | %.4f |", statsMean(baseRight, 1)),
		"- " + wantWide + ".",
		"with m seeds a bootstrap keeps (m−1)/m of the seed-to-seed variance",
		"⚠ old: evaluated without per-image outcomes (before natssl recorded them), so without intervals (natssl eval --run " + f.ids["old"][:8] + " records them)",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
}

func TestGroupLabel(t *testing.T) {
	tests := []struct {
		names []string
		want  string
	}{
		{[]string{"base-s1", "base-s2"}, "base"},
		{[]string{"demo", "demo"}, "demo"},
		{[]string{"resnet50", "resnet50"}, "resnet50"},
		{[]string{"lr0.1-seed1", "lr0.1-seed2"}, "lr0.1"},
		{[]string{"simclr_a", "simclr_b", "simclr_c"}, "simclr"},
		{[]string{"a1", "b2"}, "a1 + b2"},
		{[]string{"x", "x2"}, "x + x2"},
		{[]string{"only"}, "only"},
	}
	for _, tt := range tests {
		var runs []*Run
		var idx []int
		for i, n := range tt.names {
			r := &Run{RunRecord: &experiments.RunRecord{}}
			r.Name, r.Label = n, n
			runs = append(runs, r)
			idx = append(idx, i)
		}
		if got := groupLabel(runs, idx); got != tt.want {
			t.Errorf("groupLabel(%q) = %q, want %q", tt.names, got, tt.want)
		}
	}
}

func TestUsableOutcomes(t *testing.T) {
	out := func(task, img string, right bool) experiments.Outcome {
		o := experiments.Outcome{Suite: "newt", Task: task, Image: img, Label: 1, Predicted: 1}
		if !right {
			o.Predicted = 0
		}
		return o
	}
	both := []experiments.Outcome{out("a", "1", true), out("a", "2", false), out("b", "3", true)}
	summary := func(metric string, a, b float64) *experiments.EvalSummary {
		return &experiments.EvalSummary{Metric: metric, PerTask: map[string]float64{"a": a, "b": b}}
	}
	tests := []struct {
		name     string
		s        *experiments.EvalSummary
		outcomes []experiments.Outcome
		reason   string // "" when usable
	}{
		{"every task, matching", summary("accuracy", 0.5, 1), both, ""},
		{"none recorded", summary("accuracy", 0.5, 1), nil, "evaluated without per-image outcomes (before natssl recorded them), so without intervals (natssl eval --run 0123abcd records them)"},
		{"a task without", summary("accuracy", 0.5, 1), both[:2], "task b has no per-image outcomes"},
		{"another accuracy", summary("accuracy", 0.75, 1), both, "the outcomes of task a give 0.5000, not the recorded 0.7500"},
		{"a NaN accuracy", summary("accuracy", math.NaN(), 1), both, "the outcomes of task a give 0.5000, not the recorded NaN"},
		{"another metric", summary("auc", 0.5, 1), both, "intervals are computed for accuracy only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := usableOutcomes(tt.s, tt.outcomes, "0123abcdef")
			if !strings.Contains(reason, tt.reason) || (tt.reason == "") != (reason == "") || (got != nil) != (reason == "") {
				t.Fatalf("reason %q (outcomes %v), want %q", reason, got != nil, tt.reason)
			}
			if reason == "" && (got["a"].right() != 1 || len(got["a"].correct) != 2 || !reflect.DeepEqual(got["a"].images, []string{"1", "2"})) {
				t.Errorf("task a: %+v", got["a"])
			}
		})
	}
}
