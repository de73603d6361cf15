package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/natssl/natssl/experiments"
)

// Plot is one figure of a report, drawn as SVG.
type Plot struct {
	File  string // file name when written to a directory: "loss.svg"
	Title string
	SVG   []byte
}

// The size plots are drawn at.
const (
	plotWidth  = 16 * vg.Centimeter
	plotHeight = 9 * vg.Centimeter
)

// runColor gives run i the same colour in every plot (the baseline is the first).
func runColor(i int) color.Color { return plotutil.Color(i) }

func drawPlots(rep *Report) ([]Plot, error) {
	var plots []Plot
	add := func(file, title string, p *plot.Plot, err error) error {
		if err != nil {
			return fmt.Errorf("report: plot %s: %w", file, err)
		}
		if p == nil {
			return nil // nothing to draw: no run has the data
		}
		w, err := p.WriterTo(plotWidth, plotHeight, "svg")
		if err != nil {
			return fmt.Errorf("report: plot %s: %w", file, err)
		}
		var b bytes.Buffer
		if _, err := w.WriteTo(&b); err != nil {
			return fmt.Errorf("report: plot %s: %w", file, err)
		}
		plots = append(plots, Plot{File: file, Title: title, SVG: b.Bytes()})
		return nil
	}
	p, err := seriesPlot(rep.Runs, "Training loss", "loss", func(r *Run) []experiments.Point { return r.Loss })
	if err := add("loss.svg", "Training loss against step", p, err); err != nil {
		return nil, err
	}
	p, err = seriesPlot(rep.Runs, "Throughput", "images/s", func(r *Run) []experiments.Point { return r.ImagesPerS })
	if err := add("images_per_s.svg", "Images per second against step", p, err); err != nil {
		return nil, err
	}
	p, err = monitorPlot(rep.Runs)
	if err := add("monitor.svg", "Online monitor against step: kNN top-1 (solid) and NeWT probe mean on the monitor's tasks (dashed)", p, err); err != nil {
		return nil, err
	}
	p, err = clusterBars(rep)
	if err := add("newt_clusters.svg", "NeWT "+rep.Metric+" per cluster", p, err); err != nil {
		return nil, err
	}
	p, err = taskScatter(rep)
	if err := add("newt_tasks.svg", "NeWT per-task "+rep.Metric+" against the baseline", p, err); err != nil {
		return nil, err
	}
	p, err = deltaForest(rep)
	if err := add("newt_delta.svg", "Difference to the baseline with 95% intervals, overall and per cluster", p, err); err != nil {
		return nil, err
	}
	p, err = efficiencyScatter(rep)
	if err := add("efficiency.svg", "NeWT "+rep.Metric+" against MFLOPs per image", p, err); err != nil {
		return nil, err
	}
	return plots, nil
}

// maxLinePoints bounds the vertices of one line: a run logged every step for a million steps
// would otherwise make a page of many megabytes that draws no more than a few thousand pixels.
const maxLinePoints = 2000

// finite drops NaN and infinite points, which a line cannot pass through, and thins long
// series to at most maxLinePoints.
func finite(pts []experiments.Point) plotter.XYs {
	xys := make(plotter.XYs, 0, len(pts))
	for _, p := range pts {
		if !math.IsNaN(p.Value) && !math.IsInf(p.Value, 0) {
			xys = append(xys, plotter.XY{X: float64(p.Step), Y: p.Value})
		}
	}
	return thin(xys, maxLinePoints)
}

// thin keeps at most n of xys (n ≥ 4): the first and the last, and for each of the buckets
// between them the lowest and the highest point, in order, so spikes survive.
func thin(xys plotter.XYs, n int) plotter.XYs {
	if len(xys) <= n {
		return xys
	}
	out := plotter.XYs{xys[0]}
	inner := xys[1 : len(xys)-1]
	buckets := (n - 2) / 2
	for b := 0; b < buckets; b++ {
		lo, hi := b*len(inner)/buckets, (b+1)*len(inner)/buckets
		if lo == hi {
			continue
		}
		minI, maxI := lo, lo
		for i := lo; i < hi; i++ {
			if inner[i].Y < inner[minI].Y {
				minI = i
			}
			if inner[i].Y > inner[maxI].Y {
				maxI = i
			}
		}
		first, second := min(minI, maxI), max(minI, maxI)
		out = append(out, inner[first])
		if second != first {
			out = append(out, inner[second])
		}
	}
	return append(out, xys[len(xys)-1])
}

// seriesPlot overlays one line per run that logged the metric; nil when none did.
func seriesPlot(runs []*Run, title, ylabel string, series func(*Run) []experiments.Point) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "step"
	p.Y.Label.Text = ylabel
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	drawn := 0
	for i, r := range runs {
		xys := finite(series(r))
		if len(xys) == 0 {
			continue
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("%s of %s: %w", ylabel, r.Label, err)
		}
		l.Color = runColor(i)
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(r.Label, l)
		if len(xys) == 1 { // a single point draws no line: mark it
			s, err := plotter.NewScatter(xys)
			if err != nil {
				return nil, err
			}
			s.Color = runColor(i)
			p.Add(s)
		}
		drawn++
	}
	if drawn == 0 {
		return nil, nil
	}
	return p, nil
}

// clusterBars draws each evaluated run's mean per cluster as grouped bars; nil when no run was
// evaluated.
func clusterBars(rep *Report) (*plot.Plot, error) {
	if rep.Eval == nil || len(rep.Eval.Clusters) == 0 {
		return nil, nil
	}
	var evaluated []int
	for j, r := range rep.Runs {
		if r.LastEval != nil {
			evaluated = append(evaluated, j)
		}
	}
	p := plot.New()
	p.Title.Text = "NeWT " + rep.Metric + " per cluster"
	p.Y.Label.Text = rep.Metric
	p.Y.Min, p.Y.Max = 0, 1
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	names := make([]string, len(rep.Eval.Clusters))
	for i, row := range rep.Eval.Clusters {
		names[i] = row.Cluster
		if names[i] == "" {
			names[i] = "(none)"
		}
	}
	groupWidth := vg.Points(float64(plotWidth.Points()) * 0.7 / float64(len(names)+1))
	barWidth := groupWidth / vg.Length(len(evaluated))
	for k, j := range evaluated {
		vals := make(plotter.Values, len(rep.Eval.Clusters))
		for i, row := range rep.Eval.Clusters {
			if c := row.Cells[j]; c.Has && !math.IsNaN(c.Mean) {
				vals[i] = c.Mean
			}
		}
		b, err := plotter.NewBarChart(vals, barWidth)
		if err != nil {
			return nil, fmt.Errorf("bars of %s: %w", rep.Runs[j].Label, err)
		}
		b.Color = runColor(j)
		b.LineStyle.Width = 0
		b.Offset = barWidth*vg.Length(k) - groupWidth/2 + barWidth/2
		p.Add(b)
		p.Legend.Add(rep.Runs[j].Label, b)
	}
	p.NominalX(names...)
	return p, nil
}

// taskScatter plots each run's per-task value against the baseline's, with the diagonal where
// they are equal; nil unless the baseline and another run were evaluated.
func taskScatter(rep *Report) (*plot.Plot, error) {
	base := rep.Runs[0].LastEval
	if base == nil {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = "NeWT per-task " + rep.Metric + " against the baseline"
	p.X.Label.Text = rep.Runs[0].Label + " (baseline)"
	p.Y.Label.Text = "run"
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	diag, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
	if err != nil {
		return nil, err
	}
	diag.Color = color.Gray{Y: 128}
	diag.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	p.Add(diag)
	drawn := 0
	for j, r := range rep.Runs[1:] {
		if r.LastEval == nil {
			continue
		}
		tasks := make([]string, 0, len(r.LastEval.PerTask))
		for t := range r.LastEval.PerTask {
			if _, ok := base.PerTask[t]; ok {
				tasks = append(tasks, t)
			}
		}
		sort.Strings(tasks)
		var xys plotter.XYs
		for _, t := range tasks {
			x, y := base.PerTask[t], r.LastEval.PerTask[t]
			if !math.IsNaN(x) && !math.IsNaN(y) {
				xys = append(xys, plotter.XY{X: x, Y: y})
			}
		}
		if len(xys) == 0 {
			continue
		}
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, fmt.Errorf("tasks of %s: %w", r.Label, err)
		}
		s.Color = runColor(j + 1)
		s.Shape = draw.CircleGlyph{}
		s.Radius = vg.Points(2.5)
		p.Add(s)
		p.Legend.Add(r.Label, s)
		drawn++
	}
	if drawn == 0 {
		return nil, nil
	}
	return p, nil
}

// errorPoints are points with horizontal error bars.
type errorPoints struct {
	plotter.XYs
	plotter.XErrors
}

// deltaForest draws, for each run with a paired interval against the baseline, its difference
// in percentage points overall and per cluster, each with its 95% interval, around a line at
// zero; nil when no run has one.
func deltaForest(rep *Report) (*plot.Plot, error) {
	e := rep.Eval
	if e == nil {
		return nil, nil
	}
	var shown []int
	for j := 1; j < len(rep.Runs); j++ {
		if e.Overall[j].DeltaCI.OK {
			shown = append(shown, j)
		}
	}
	if len(shown) == 0 {
		return nil, nil
	}
	rows := []string{"all tasks"}
	cells := func(j int) []Cell {
		out := []Cell{e.Overall[j]}
		for _, g := range e.Clusters {
			out = append(out, g.Cells[j])
		}
		return out
	}
	for _, g := range e.Clusters {
		rows = append(rows, orDash(g.Cluster))
	}
	p := plot.New()
	p.Title.Text = "NeWT " + rep.Metric + ": difference to " + rep.Runs[0].Label
	p.X.Label.Text = "points (95% interval)"
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	n := float64(len(rows))
	zero, err := plotter.NewLine(plotter.XYs{{X: 0, Y: -0.5}, {X: 0, Y: n - 0.5}})
	if err != nil {
		return nil, err
	}
	zero.Color = color.Gray{Y: 96}
	zero.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	p.Add(zero)
	for k, j := range shown {
		// Rows run top to bottom; each run's marks sit a little apart within a row.
		off := 0.0
		if len(shown) > 1 {
			off = 0.5 * (float64(k)/float64(len(shown)-1) - 0.5)
		}
		var pts errorPoints
		for i, c := range cells(j) {
			if !c.DeltaCI.OK || math.IsNaN(c.Delta) {
				continue
			}
			d := 100 * c.Delta
			pts.XYs = append(pts.XYs, plotter.XY{X: d, Y: n - 1 - float64(i) - off})
			pts.XErrors = append(pts.XErrors, struct{ Low, High float64 }{Low: d - 100*c.DeltaCI.Lo, High: 100*c.DeltaCI.Hi - d})
		}
		if len(pts.XYs) == 0 {
			continue
		}
		bars, err := plotter.NewXErrorBars(pts)
		if err != nil {
			return nil, fmt.Errorf("intervals of %s: %w", rep.Runs[j].Label, err)
		}
		bars.Color = runColor(j)
		bars.Width = vg.Points(1.5)
		s, err := plotter.NewScatter(pts.XYs)
		if err != nil {
			return nil, fmt.Errorf("differences of %s: %w", rep.Runs[j].Label, err)
		}
		s.Color = runColor(j)
		s.Shape = draw.CircleGlyph{}
		s.Radius = vg.Points(3)
		p.Add(bars, s)
		p.Legend.Add(rep.Runs[j].Label, s)
	}
	labels := make([]string, len(rows))
	for i, r := range rows {
		labels[len(rows)-1-i] = r
	}
	p.NominalY(labels...)
	p.Y.Min, p.Y.Max = -0.5, n-0.5
	return p, nil
}
