package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"regexp"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/natssl/natssl/experiments"
)

// Plot is one figure of a report, drawn as SVG that scales to the width it is shown at.
type Plot struct {
	File          string // file name when written to a directory: "loss.svg"
	Title         string
	SVG           []byte
	Width, Height vg.Length // the drawing's proportions (a scatter is square, a series wide)
}

// The size plots are drawn at. The SVG scales to the width of the page or viewer it is shown
// in (width 100%, the aspect kept by its viewBox); this size sets the proportions and the
// text's size relative to the chart.
const (
	plotWidth  = 20 * vg.Centimeter
	plotHeight = 10 * vg.Centimeter
)

// palette is Okabe and Ito's colour-blind-safe palette (Color Universal Design, 2008), in an
// order whose neighbours differ for every common colour-vision deficiency; its yellow, hard to
// see on white, comes last.
var palette = []color.NRGBA{
	{0x00, 0x72, 0xB2, 0xFF}, // blue
	{0xD5, 0x5E, 0x00, 0xFF}, // vermillion
	{0x00, 0x9E, 0x73, 0xFF}, // bluish green
	{0xCC, 0x79, 0xA7, 0xFF}, // reddish purple
	{0xE6, 0x9F, 0x00, 0xFF}, // orange
	{0x56, 0xB4, 0xE9, 0xFF}, // sky blue
	{0x00, 0x00, 0x00, 0xFF}, // black
	{0xF0, 0xE4, 0x42, 0xFF}, // yellow
}

// runColor gives run i the same colour in every plot (the baseline is the first).
func runColor(i int) color.Color { return palette[i%len(palette)] }

// shapes are the runs' markers, filled ones first: they read best at a few points' size.
var shapes = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.BoxGlyph{}, draw.PyramidGlyph{}, draw.RingGlyph{},
	draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.CrossGlyph{}, draw.PlusGlyph{}}

// runShape gives run i the same marker in every plot, so that runs differ by shape as well as
// colour (and a ninth run, whose colour repeats the first's, has a marker of its own).
func runShape(i int) draw.GlyphDrawer { return shapes[(i+i/len(palette))%len(shapes)] }

// chart is a plot and the labels of its legend, drawn beside the plot rather than over it.
type chart struct {
	*plot.Plot
	labels        []string
	width, height vg.Length // the plot's own area; the legend's column is added to the width
}

// sans is the charts' typeface, as the page's text.
var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

func newChart(title string) *chart {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = font.From(sans, 12)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sans, 11)
		a.Tick.Label.Font = font.From(sans, 9)
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.TextStyle.Font = font.From(sans, 10)
	p.Legend.Padding = vg.Points(3)
	return &chart{Plot: p, width: plotWidth, height: plotHeight}
}

// legend adds an entry to the chart's legend.
func (c *chart) legend(label string, thumbs ...plot.Thumbnailer) {
	c.Legend.Add(label, thumbs...)
	c.labels = append(c.labels, label)
}

// svgSize matches the fixed size gonum writes on the root element.
var svgSize = regexp.MustCompile(`<svg width="[0-9.]+pt" height="[0-9.]+pt"`)

// render draws the chart as SVG: the plot on the left, the legend in a column of its own on
// the right (never over the data), and a root element that scales to its container.
func (c *chart) render() ([]byte, vg.Length, error) {
	var lw vg.Length
	if len(c.labels) > 0 {
		for _, l := range c.labels {
			lw = max(lw, c.Legend.TextStyle.Width(l))
		}
		lw += c.Legend.ThumbnailWidth + 2*c.Legend.TextStyle.Font.Size
		lw = min(lw, c.width/2) // a very long label runs off rather than squeezing the plot
	}
	w := c.width + lw
	cv := vgsvg.New(w, c.height)
	dc := draw.New(cv)
	dc.SetColor(color.White) // the legend's column too: a dark viewer must not show through
	dc.Fill(dc.Rectangle.Path())
	leg := c.Legend
	c.Legend = plot.NewLegend() // p.Draw must not draw it over the data
	c.Draw(draw.Crop(dc, 0, -lw, 0, 0))
	c.Legend = leg
	if lw > 0 {
		leg.YOffs = -c.Title.TextStyle.Height(c.Title.Text) - c.Title.Padding // level with the plot's top
		leg.Draw(draw.Crop(dc, c.width+c.Legend.TextStyle.Font.Size/2, 0, 0, 0))
	}
	var b bytes.Buffer
	if _, err := cv.WriteTo(&b); err != nil {
		return nil, 0, err
	}
	done := false
	out := svgSize.ReplaceAllFunc(b.Bytes(), func(m []byte) []byte {
		if done {
			return m
		}
		done = true
		return []byte(`<svg width="100%"`)
	})
	return out, w, nil
}

func drawPlots(rep *Report) ([]Plot, error) {
	var plots []Plot
	add := func(file, title string, c *chart, err error) error {
		if err != nil {
			return fmt.Errorf("report: plot %s: %w", file, err)
		}
		if c == nil {
			return nil // nothing to draw: no run has the data
		}
		svg, w, err := c.render()
		if err != nil {
			return fmt.Errorf("report: plot %s: %w", file, err)
		}
		plots = append(plots, Plot{File: file, Title: title, SVG: svg, Width: w, Height: c.height})
		return nil
	}
	x := seriesAxis(rep.Runs)
	c, err := seriesPlot(rep.Runs, "Training loss (mean per logging window)", "loss", func(r *Run) []experiments.Point { return r.Loss })
	if err := add("loss.svg", "Training loss against "+x.name, c, err); err != nil {
		return nil, err
	}
	c, err = seriesPlot(rep.Runs, "Throughput", "images/s", func(r *Run) []experiments.Point { return r.ImagesPerS })
	if err := add("images_per_s.svg", "Images per second against "+x.name, c, err); err != nil {
		return nil, err
	}
	c, err = monitorPlot(rep.Runs)
	if err := add("monitor.svg", "Online monitor against "+x.name+": kNN top-1 (solid) and NeWT probe mean on the monitor's tasks (dashed)", c, err); err != nil {
		return nil, err
	}
	c, err = clusterBars(rep)
	if err := add("newt_clusters.svg", "NeWT "+rep.Metric+" per cluster", c, err); err != nil {
		return nil, err
	}
	c, err = taskScatter(rep)
	if err := add("newt_tasks.svg", "NeWT per-task "+rep.Metric+" against the baseline", c, err); err != nil {
		return nil, err
	}
	c, err = deltaForest(rep)
	if err := add("newt_delta.svg", "Difference to the baseline with 95% intervals, overall and per cluster", c, err); err != nil {
		return nil, err
	}
	c, err = efficiencyScatter(rep)
	if err := add("efficiency.svg", "NeWT "+rep.Metric+" against MFLOPs per image", c, err); err != nil {
		return nil, err
	}
	return plots, nil
}

// xAxis is what a series is plotted against: steps, or images seen when the runs' batch sizes
// differ (a step of 512 images is not a step of 64).
type xAxis struct {
	name   string
	images bool
}

func seriesAxis(runs []*Run) xAxis {
	seen := map[int64]bool{}
	for _, r := range runs {
		if len(r.Loss)+len(r.ImagesPerS) > 0 {
			if r.Batch == 0 {
				return xAxis{name: "step"} // one batch size unknown: steps are all there is
			}
			seen[r.Batch] = true
		}
	}
	if len(seen) > 1 {
		return xAxis{name: "images seen", images: true}
	}
	return xAxis{name: "step"}
}

// maxLinePoints bounds the vertices of one line: a run logged every step for a million steps
// would otherwise make a page of many megabytes that draws no more than a few thousand pixels.
const maxLinePoints = 2000

// finite drops NaN and infinite points, which a line cannot pass through, puts each at x
// step × per (1 for steps, the batch size for images seen), and thins long series to at most
// maxLinePoints.
func finite(pts []experiments.Point, per float64) plotter.XYs {
	xys := make(plotter.XYs, 0, len(pts))
	for _, p := range pts {
		if !math.IsNaN(p.Value) && !math.IsInf(p.Value, 0) {
			xys = append(xys, plotter.XY{X: float64(p.Step) * per, Y: p.Value})
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

// seriesPlot overlays one line per run that logged the metric, each ending in its run's
// marker; nil when none did. Longer series are drawn first, so that a short run lies on top of
// a long one instead of under it.
func seriesPlot(runs []*Run, title, ylabel string, series func(*Run) []experiments.Point) (*chart, error) {
	c := newChart(title)
	x := seriesAxis(runs)
	c.X.Label.Text = x.name
	c.Y.Label.Text = ylabel
	c.Add(plotter.NewGrid())
	type line struct {
		run int
		xys plotter.XYs
	}
	var lines []line
	for i, r := range runs {
		per := 1.0
		if x.images {
			per = float64(r.Batch)
		}
		if xys := finite(series(r), per); len(xys) > 0 {
			lines = append(lines, line{i, xys})
		}
	}
	if len(lines) == 0 {
		return nil, nil
	}
	order := append([]line(nil), lines...)
	sort.SliceStable(order, func(a, b int) bool { return order[a].xys[len(order[a].xys)-1].X > order[b].xys[len(order[b].xys)-1].X })
	thumbs := map[int][]plot.Thumbnailer{}
	for _, ln := range order {
		l, err := plotter.NewLine(ln.xys)
		if err != nil {
			return nil, fmt.Errorf("%s of %s: %w", ylabel, runs[ln.run].Label, err)
		}
		l.Color = runColor(ln.run)
		l.Width = vg.Points(1.5)
		end, err := plotter.NewScatter(ln.xys[len(ln.xys)-1:]) // where the run stopped
		if err != nil {
			return nil, err
		}
		end.Color, end.Shape, end.Radius = runColor(ln.run), runShape(ln.run), vg.Points(3.5)
		c.Add(l, end)
		thumbs[ln.run] = []plot.Thumbnailer{l, end}
	}
	for _, ln := range lines { // the legend in the runs' order
		c.legend(runs[ln.run].Label, thumbs[ln.run]...)
	}
	return c, nil
}

// clusterBars draws each evaluated run's mean per cluster as grouped bars; nil when no run was
// evaluated.
func clusterBars(rep *Report) (*chart, error) {
	if rep.Eval == nil || len(rep.Eval.Clusters) == 0 {
		return nil, nil
	}
	var evaluated []int
	for j, r := range rep.Runs {
		if r.LastEval != nil {
			evaluated = append(evaluated, j)
		}
	}
	p := newChart("NeWT " + rep.Metric + " per cluster")
	p.Y.Label.Text = rep.Metric
	p.Y.Min, p.Y.Max = 0, 1
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
		p.legend(rep.Runs[j].Label, b)
	}
	p.NominalX(names...)
	return p, nil
}

// taskScatter plots each run's per-task value against the baseline's, with the diagonal where
// they are equal, on axes fitted to the values (the same range on both, so that the diagonal
// stays at 45°); nil unless the baseline and another run were evaluated.
func taskScatter(rep *Report) (*chart, error) {
	base := rep.Runs[0].LastEval
	if base == nil {
		return nil, nil
	}
	p := newChart("NeWT per-task " + rep.Metric + " against the baseline")
	p.width, p.height = 12*vg.Centimeter, 12*vg.Centimeter // square: the diagonal at 45°
	p.X.Label.Text = rep.Runs[0].Label + " (baseline)"
	p.Y.Label.Text = "run"
	p.Add(plotter.NewGrid())
	type dots struct {
		run int
		xys plotter.XYs
	}
	var all []dots
	lo, hi := math.Inf(1), math.Inf(-1)
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
				lo, hi = min(lo, x, y), max(hi, x, y)
			}
		}
		if len(xys) > 0 {
			all = append(all, dots{j + 1, xys})
		}
	}
	if len(all) == 0 {
		return nil, nil
	}
	pad := max(0.05*(hi-lo), 0.02)
	lo, hi = max(lo-pad, 0), min(hi+pad, 1)
	if !(hi > lo) { // every value the same and at a bound
		lo, hi = max(lo-0.05, 0), min(hi+0.05, 1)
	}
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = lo, hi, lo, hi
	diag, err := plotter.NewLine(plotter.XYs{{X: lo, Y: lo}, {X: hi, Y: hi}})
	if err != nil {
		return nil, err
	}
	diag.Color = color.Gray{Y: 128}
	diag.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	p.Add(diag)
	for _, d := range all {
		s, err := plotter.NewScatter(d.xys)
		if err != nil {
			return nil, fmt.Errorf("tasks of %s: %w", rep.Runs[d.run].Label, err)
		}
		s.Color = runColor(d.run)
		s.Shape = runShape(d.run)
		s.Radius = vg.Points(3)
		p.Add(s)
		p.legend(rep.Runs[d.run].Label, s)
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
func deltaForest(rep *Report) (*chart, error) {
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
	p := newChart("NeWT " + rep.Metric + ": difference to " + rep.Runs[0].Label)
	// As tall as its rows need: a row per group, a line per run within it.
	p.height = min(max(4*vg.Centimeter, 2.5*vg.Centimeter+vg.Length(len(rows)*max(1, len(shown)))*0.7*vg.Centimeter), 24*vg.Centimeter)
	p.X.Label.Text = "points (95% interval)"
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
		s.Shape = runShape(j)
		s.Radius = vg.Points(3)
		p.Add(bars, s)
		p.legend(rep.Runs[j].Label, s)
	}
	labels := make([]string, len(rows))
	for i, r := range rows {
		labels[len(rows)-1-i] = r
	}
	p.NominalY(labels...)
	p.Y.Min, p.Y.Max = -0.5, n-0.5
	return p, nil
}
