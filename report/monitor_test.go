package report

import (
	"bytes"
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/experiments/metric"
)

// TestMonitorPlot: the monitor's scores of each monitored run are drawn against step, kNN
// solid and NeWT dashed in the run's colour, in percent; a run without them draws nothing; the
// plot sits in the Training section of both renderings, and a report of unmonitored runs has
// none.
func TestMonitorPlot(t *testing.T) {
	ctx := context.Background()
	db, _ := openTestDB(t)
	defer db.Close()
	ids := map[string]string{}
	for _, name := range []string{"watched", "plain", "knn-only"} {
		r, err := db.CreateRun(ctx, experiments.RunSpec{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = r.ID()
		for s := int64(1); s <= 10; s++ {
			m := map[string]float64{metric.Loss: 5 - float64(s)/10}
			if name != "plain" && s%5 == 0 || name != "plain" && s == 1 {
				m[metric.MonitorKNN] = 0.5 + float64(s)/40
				if name == "watched" {
					m[metric.MonitorNeWT] = 0.6 + float64(s)/50
				}
			}
			if err := r.LogMetrics(ctx, s, m); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.Finish(ctx, experiments.StatusFinished, ""); err != nil {
			t.Fatal(err)
		}
	}
	now := func() time.Time { return time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC) }
	rep, err := Build(ctx, db, []string{ids["watched"], ids["plain"], ids["knn-only"]}, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var legend []string
	for _, l := range runLabels(rep) {
		legend = append(legend, l+" kNN top-1", l+" NeWT mean")
	}
	checkPlots(t, rep.Plots, append(legend, runLabels(rep)...))
	svg := rep.plot(t, "monitor.svg")
	texts := svgTexts(svg)
	for _, want := range []string{"watched kNN top-1", "watched NeWT mean", "knn-only kNN top-1", "step", "accuracy (%)"} {
		if !contains(texts, want) {
			t.Errorf("the plot lacks %q (texts %q)", want, texts)
		}
	}
	if contains(texts, "plain kNN top-1") || contains(texts, "knn-only NeWT mean") {
		t.Errorf("a series drawn for a run without it: %q", texts)
	}
	// Per run and series: the line of 3 points (steps 1, 5, 10), and the legend's sample; the
	// NeWT line dashed.
	for i, r := range rep.Runs {
		stroke := "stroke:" + hexColor(runColor(i)) + ";stroke-width:1.5"
		var solid, dashed []int
		var knn [][2]float64
		for _, s := range svgShapes(svg) {
			if !strings.Contains(s.style, stroke) {
				continue
			}
			if strings.Contains(s.style, "stroke-dasharray") {
				dashed = append(dashed, len(s.points))
			} else {
				solid = append(solid, len(s.points))
				if len(s.points) == 3 {
					knn = s.points
				}
			}
		}
		sort.Ints(solid)
		sort.Ints(dashed)
		want := map[string][2][]int{"watched": {{2, 3}, {2, 3}}, "plain": {nil, nil}, "knn-only": {{2, 3}, nil}}[r.Label]
		if !equalInts(solid, want[0]) || !equalInts(dashed, want[1]) {
			t.Errorf("%s: solid lines of %v points, dashed %v; want %v and %v", r.Label, solid, dashed, want[0], want[1])
		}
		// The kNN line climbs from step 1 to step 10 (gonum's SVG paths have y growing
		// upwards), its x following the steps 1, 5, 10.
		if knn != nil && !(knn[0][1] < knn[1][1] && knn[1][1] < knn[2][1] && knn[1][0]-knn[0][0] < knn[2][0]-knn[1][0]) {
			t.Errorf("%s: kNN vertices %v", r.Label, knn)
		}
	}
	var md bytes.Buffer
	if err := rep.Markdown(&md, true); err != nil {
		t.Fatal(err)
	}
	training := md.String()[strings.Index(md.String(), "## Training"):]
	training = training[:strings.Index(training[3:], "\n## ")+3]
	if !strings.Contains(training, "(monitor.svg)") {
		t.Errorf("the Training section does not show monitor.svg:\n%s", training)
	}
	var html bytes.Buffer
	if err := rep.HTML(&html); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html.String(), `data-file="monitor.svg"`) {
		t.Error("the HTML page lacks the monitor plot")
	}

	rep, err = Build(ctx, db, []string{ids["plain"]}, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Plots {
		if p.File == "monitor.svg" {
			t.Error("a report of an unmonitored run has a monitor plot")
		}
	}
}
