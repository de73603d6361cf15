package report

import (
	"fmt"
	"image/color"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// sweepPlots draws the validation score against each swept key: one plot per key, keys that
// took the same values in every trial (tied keys such as brightness = contrast) sharing one.
func sweepPlots(rep *SweepReport) ([]Plot, error) {
	var plots []Plot
	for _, keys := range keyGroups(rep) {
		p, err := scoreAgainst(rep, keys)
		file := "sweep_" + strings.NewReplacer(".", "_", "/", "_").Replace(keys[0]) + ".svg"
		if err != nil {
			return nil, fmt.Errorf("report: plot %s: %w", file, err)
		}
		if p == nil {
			continue
		}
		svg, w, err := p.render()
		if err != nil {
			return nil, fmt.Errorf("report: plot %s: %w", file, err)
		}
		plots = append(plots, Plot{File: file, Title: "Validation score against " + strings.Join(keys, " = "), SVG: svg,
			Width: w, Height: p.height})
	}
	return plots, nil
}

// keyGroups are the swept keys, those with the same value as an earlier key in every trial
// put with it.
func keyGroups(rep *SweepReport) [][]string {
	var groups [][]string
	for _, k := range rep.Keys {
		joined := false
		for i, g := range groups {
			same := true
			for _, t := range rep.Trials {
				if t.Value[k] != t.Value[g[0]] {
					same = false
					break
				}
			}
			if same {
				groups[i], joined = append(g, k), true
				break
			}
		}
		if !joined {
			groups = append(groups, []string{k})
		}
	}
	return groups
}

// yErrorPoints are points with vertical error bars.
type yErrorPoints struct {
	plotter.XYs
	plotter.YErrors
}

// scoreAgainst plots each scored trial's validation mean, with its interval, against the value
// of keys[0]: on a numeric axis (logarithmic where the values are positive and span ten times
// or more) or, for other values, one place per value in the order they first appear. nil when
// no trial is scored.
func scoreAgainst(rep *SweepReport, keys []string) (*chart, error) {
	key := keys[0]
	var scored []*SweepTrial
	numeric, lo, hi := true, math.Inf(1), math.Inf(-1)
	for _, t := range rep.Trials {
		if math.IsNaN(t.Mean) {
			continue
		}
		scored = append(scored, t)
		x, err := strconv.ParseFloat(strings.TrimSpace(t.Value[key]), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			numeric = false
			continue
		}
		lo, hi = min(lo, x), max(hi, x)
	}
	if len(scored) == 0 {
		return nil, nil
	}
	p := newChart("Validation score against " + strings.Join(keys, " = "))
	p.X.Label.Text = strings.Join(keys, " = ")
	p.Y.Label.Text = "validation accuracy (mean over tasks)"
	p.Add(plotter.NewGrid())
	var names []string
	place := map[string]float64{}
	if !numeric {
		for _, t := range rep.Trials {
			if _, ok := place[t.Value[key]]; !ok {
				place[t.Value[key]] = float64(len(names))
				names = append(names, t.Value[key])
			}
		}
	}
	xOf := func(t *SweepTrial) float64 {
		if !numeric {
			return place[t.Value[key]]
		}
		x, _ := strconv.ParseFloat(strings.TrimSpace(t.Value[key]), 64)
		return x
	}
	var all, withCI yErrorPoints
	var best plotter.XYs
	for _, t := range scored {
		xy := plotter.XY{X: xOf(t), Y: t.Mean}
		all.XYs = append(all.XYs, xy)
		if t.CI.OK {
			withCI.XYs = append(withCI.XYs, xy)
			withCI.YErrors = append(withCI.YErrors, struct{ Low, High float64 }{Low: t.Mean - t.CI.Lo, High: t.CI.Hi - t.Mean})
		}
		if t == rep.Best {
			best = append(best, xy)
		}
	}
	if len(withCI.XYs) > 0 {
		bars, err := plotter.NewYErrorBars(withCI)
		if err != nil {
			return nil, err
		}
		bars.Color = color.Gray{Y: 120}
		bars.Width = vg.Points(1)
		p.Add(bars)
	}
	s, err := plotter.NewScatter(all.XYs)
	if err != nil {
		return nil, err
	}
	s.Color = runColor(0)
	s.Shape = runShape(0)
	s.Radius = vg.Points(3)
	p.Add(s)
	p.legend("trial (95% interval)", s)
	if len(best) > 0 {
		b, err := plotter.NewScatter(best)
		if err != nil {
			return nil, err
		}
		b.Color = runColor(1)
		b.Shape = runShape(1)
		b.Radius = vg.Points(5)
		p.Add(b)
		p.legend(fmt.Sprintf("best (trial %d)", rep.Best.N), b)
	}
	switch {
	case !numeric:
		p.NominalX(names...)
		p.X.Min, p.X.Max = -0.5, float64(len(names))-0.5
	case lo > 0 && hi >= 10*lo:
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		p.X.Min, p.X.Max = lo/1.25, hi*1.25
	case hi > lo:
		pad := (hi - lo) / 10
		p.X.Min, p.X.Max = lo-pad, hi+pad
	default:
		p.X.Min, p.X.Max = lo-1, hi+1
	}
	return p, nil
}
