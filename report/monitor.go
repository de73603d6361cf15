package report

import (
	"fmt"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/natssl/natssl/experiments"
)

// monitorPlot draws the online monitor's scores in percent against the series' x axis (steps,
// or images seen when the runs' batch sizes differ): each monitored run's kNN top-1 as a solid
// line and its NeWT probe mean as a dashed one, both in the run's colour with the run's marker
// at every monitor step; nil when no run was monitored. As in the other series plots, longer
// lines are drawn first, so that a short run lies on top.
func monitorPlot(runs []*Run) (*chart, error) {
	c := newChart("Online monitor")
	x := seriesAxis(runs)
	c.X.Label.Text = x.name
	c.Y.Label.Text = "accuracy (%)"
	c.Add(plotter.NewGrid())
	type line struct {
		run    int
		name   string
		xys    plotter.XYs
		dashed bool
	}
	var lines []line
	for i, r := range runs {
		per := 1.0
		if x.images {
			per = float64(r.Batch)
		}
		for _, s := range []struct {
			name   string
			pts    []experiments.Point
			dashed bool
		}{{"kNN top-1", r.MonitorKNN, false}, {"NeWT mean", r.MonitorNeWT, true}} {
			xys := finite(s.pts, per)
			if len(xys) == 0 {
				continue
			}
			for k := range xys {
				xys[k].Y *= 100
			}
			lines = append(lines, line{i, s.name, xys, s.dashed})
		}
	}
	if len(lines) == 0 {
		return nil, nil
	}
	// Drawn longest first; listed in the runs' order, kNN before NeWT.
	order := make([]int, len(lines))
	for k := range order {
		order[k] = k
	}
	sort.SliceStable(order, func(a, b int) bool {
		la, lb := lines[order[a]].xys, lines[order[b]].xys
		return la[len(la)-1].X > lb[len(lb)-1].X
	})
	thumbs := make([][]plot.Thumbnailer, len(lines))
	for _, k := range order {
		ln := lines[k]
		l, sc, err := plotter.NewLinePoints(ln.xys)
		if err != nil {
			return nil, fmt.Errorf("%s of %s: %w", ln.name, runs[ln.run].Label, err)
		}
		l.Color, sc.Color = runColor(ln.run), runColor(ln.run)
		l.Width = vg.Points(1.5)
		sc.Shape, sc.Radius = runShape(ln.run), vg.Points(2.5)
		if ln.dashed {
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		c.Add(l, sc)
		thumbs[k] = []plot.Thumbnailer{l, sc}
	}
	for k, ln := range lines {
		c.legend(runs[ln.run].Label+" "+ln.name, thumbs[k]...)
	}
	return c, nil
}
