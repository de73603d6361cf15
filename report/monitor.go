package report

import (
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/natssl/natssl/experiments"
)

// monitorPlot draws the online monitor's scores against step, in percent: each monitored
// run's kNN top-1 as a solid line and its NeWT probe mean as a dashed one, both in the run's
// colour, a dot at every monitor step, up to 100%; nil when no run was monitored.
func monitorPlot(runs []*Run) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Online monitor"
	p.X.Label.Text = "step"
	p.Y.Label.Text = "accuracy (%)"
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	drawn := 0
	for i, r := range runs {
		for _, s := range []struct {
			name   string
			pts    []experiments.Point
			dashed bool
		}{{"kNN top-1", r.MonitorKNN, false}, {"NeWT mean", r.MonitorNeWT, true}} {
			xys := finite(s.pts)
			if len(xys) == 0 {
				continue
			}
			for k := range xys {
				xys[k].Y *= 100
			}
			l, sc, err := plotter.NewLinePoints(xys)
			if err != nil {
				return nil, fmt.Errorf("%s of %s: %w", s.name, r.Label, err)
			}
			l.Color, sc.Color = runColor(i), runColor(i)
			l.Width = vg.Points(1.5)
			sc.Radius = vg.Points(2)
			if s.dashed {
				l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			}
			p.Add(l, sc)
			p.Legend.Add(r.Label+" "+s.name, l, sc)
			drawn++
		}
	}
	if drawn == 0 {
		return nil, nil
	}
	p.Y.Max = 100 // room above the lines for the legend
	return p, nil
}
