package report

import (
	"fmt"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/natssl/natssl/experiments"
)

// Cost is what a run's encoder costs per image at the side it is evaluated at. The report is
// given it (Options.Cost): the model arithmetic belongs to the packages that know the models.
type Cost struct {
	ImageSize int
	Params    int64
	MFLOPs    float64 // millions of floating-point operations, a multiply-add counted as two
}

// runCost asks opt.Cost for a run's cost; a failure is kept as the reason there is none.
func runCost(r *Run, opt Options) {
	if opt.Cost == nil {
		return
	}
	c, err := opt.Cost(r.RunRecord)
	if err != nil {
		r.CostNote = err.Error()
		return
	}
	r.Cost = c
}

// newestExports is a run's newest export of each format, in the order formats first appear.
func newestExports(exports []experiments.Export) []experiments.Export {
	var out []experiments.Export
	at := map[string]int{}
	for _, x := range exports { // oldest first
		if i, ok := at[x.Format]; ok {
			out[i] = x
			continue
		}
		at[x.Format] = len(out)
		out = append(out, x)
	}
	return out
}

// param is the value of a flattened config key the run recorded; "" when it has none.
func (r *Run) param(key string) string {
	for _, p := range r.Params {
		if p.Key == key {
			return p.Value
		}
	}
	return ""
}

// efficiencySection sets each run's accuracy beside what its encoder costs: parameters and
// MFLOPs per image at its eval size, the size of its exports, and its mean.
func (rep *Report) efficiencySection() section {
	s := section{Title: "Efficiency", Level: 2, Notes: []string{
		"Each run's encoder: parameters and MFLOPs per image (a multiply-add counted as two) at its eval.image_size, " +
			"the size of its newest export in each format (natssl export), and its NeWT mean at the last evaluated checkpoint.",
	}}
	t := table{Head: []string{"run", "model", "image", "parameters", "MFLOPs / image", "exports (bytes)", "NeWT " + rep.Metric}}
	for _, r := range rep.Runs {
		model := r.param("model.backbone")
		if w := r.param("model.width"); model != "" && w != "" {
			model += " w" + w
		}
		row := []cell{text(r.Label), text(orDash(model))}
		if c := r.Cost; c != nil {
			row = append(row, num(fmt.Sprintf("%d px", c.ImageSize)), num(fmtCount(c.Params)), num(fmtFloat(c.MFLOPs, 1)))
		} else {
			row = append(row, num("–"), num("–"), num("–"))
		}
		if r.CostNote != "" {
			s.Marks = append(s.Marks, fmt.Sprintf("⚠ %s: no cost: %s", r.Label, r.CostNote))
		}
		var sizes []string
		for _, x := range newestExports(r.Exports) {
			v := x.Format + " " + fmtCount(x.Bytes)
			if x.WithHead {
				v += " (with head)"
			}
			sizes = append(sizes, v)
		}
		row = append(row, text(orDash(strings.Join(sizes, "; "))))
		if r.LastEval != nil {
			row = append(row, num(fmtFloat(r.LastEval.Mean, 4)))
		} else {
			row = append(row, cell{Text: "not evaluated", Class: "mark"})
		}
		t.Rows = append(t.Rows, row)
	}
	s.Tables = []table{t}
	s.Plots = rep.plots("efficiency.svg")
	return s
}

// exportsSection lists every run's exports, as the checkpoints section lists checkpoints.
func (rep *Report) exportsSection() section {
	s := section{Title: "Exports", Level: 2}
	t := table{Head: []string{"run", "format", "checkpoint", "image", "head", "bytes", "sha256", "path"}}
	for _, r := range rep.Runs {
		for _, x := range r.Exports {
			head := "no"
			if x.WithHead {
				head = "yes"
			}
			t.Rows = append(t.Rows, []cell{text(r.Label), text(x.Format), num(fmt.Sprint(x.CheckpointStep)),
				num(fmt.Sprintf("%d px", x.ImageSize)), text(head), num(fmtCount(x.Bytes)), text(short(x.SHA256, 12)), text(x.Path)})
		}
	}
	if len(t.Rows) == 0 {
		s.Notes = []string{"No run was exported (natssl export --run RUN_ID --format onnx)."}
	} else {
		s.Tables = []table{t}
	}
	return s
}

// efficiencyScatter plots each run's mean against its MFLOPs per image (a log scale: models
// differ by orders of magnitude), each run in its colour and marker, on a y axis fitted to the
// means; nil unless two runs have both.
func efficiencyScatter(rep *Report) (*chart, error) {
	type point struct {
		i    int
		x, y float64
	}
	var pts []point
	for i, r := range rep.Runs {
		if r.Cost == nil || r.LastEval == nil || !(r.Cost.MFLOPs > 0) || math.IsNaN(r.LastEval.Mean) {
			continue
		}
		pts = append(pts, point{i, r.Cost.MFLOPs, r.LastEval.Mean})
	}
	if len(pts) < 2 {
		return nil, nil
	}
	c := newChart("NeWT " + rep.Metric + " against MFLOPs per image")
	c.X.Label.Text = "MFLOPs per image at the eval size (log scale)"
	c.Y.Label.Text = rep.Metric
	c.X.Scale = plot.LogScale{}
	c.X.Tick.Marker = plot.LogTicks{Prec: -1}
	c.Add(plotter.NewGrid())
	lo, hi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, pt := range pts {
		lo, hi = math.Min(lo, pt.x), math.Max(hi, pt.x)
		ylo, yhi = math.Min(ylo, pt.y), math.Max(yhi, pt.y)
		s, err := plotter.NewScatter(plotter.XYs{{X: pt.x, Y: pt.y}})
		if err != nil {
			return nil, fmt.Errorf("cost of %s: %w", rep.Runs[pt.i].Label, err)
		}
		s.Color = runColor(pt.i)
		s.Shape = runShape(pt.i)
		s.Radius = vg.Points(4)
		c.Add(s)
		c.legend(rep.Runs[pt.i].Label, s)
	}
	// The axis runs from the decade below the cheapest run to the one above the dearest, so
	// that both ends are labelled and close costs do not fill it.
	c.X.Min, c.X.Max = math.Pow(10, math.Floor(math.Log10(lo/1.5))), math.Pow(10, math.Ceil(math.Log10(hi*1.5)))
	pad := max(0.1*(yhi-ylo), 0.02)
	c.Y.Min, c.Y.Max = ylo-pad, yhi+pad
	if ylo >= 0 && yhi <= 1 { // an accuracy: not past its bounds
		c.Y.Min, c.Y.Max = max(c.Y.Min, 0), min(c.Y.Max, 1)
	}
	return c, nil
}
