package report

import (
	"bytes"
	"context"
	"errors"
	"image/color"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/natssl/natssl/experiments"
)

// widthCost is a stand-in for the model arithmetic the report is given: cost grows with
// model.width (32 for the fixture's runs, 64 for wider), and a run named broken has none.
func widthCost(rec *experiments.RunRecord) (*Cost, error) {
	if rec.Name == "broken" {
		return nil, errors.New("model.backbone \"mlp\" is not one natssl knows")
	}
	for _, p := range rec.Params {
		if p.Key == "model.width" {
			w, err := strconv.Atoi(p.Value)
			if err != nil {
				return nil, err
			}
			return &Cost{ImageSize: 96, Params: int64(w) * 1000, MFLOPs: float64(w*w) / 4}, nil
		}
	}
	return nil, nil
}

// recordExports gives the fixture's baseline an ONNX export, replaced by a later one, and a
// safetensors export with the head.
func (f *fixture) recordExports(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	db, err := experiments.OpenExisting(ctx, f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, e := range []experiments.Export{
		{Path: "runs/baseline/exports/step-10.onnx", Format: "onnx", SHA256: strings.Repeat("a1", 32), Bytes: 3000, CheckpointStep: 10, ImageSize: 96},
		{Path: "runs/baseline/exports/step-30-head.safetensors", Format: "safetensors", SHA256: strings.Repeat("b2", 32), Bytes: 5200, CheckpointStep: 30, ImageSize: 96, WithHead: true},
		{Path: "runs/baseline/exports/step-30.onnx", Format: "onnx", SHA256: strings.Repeat("c3", 32), Bytes: 4096, CheckpointStep: 30, ImageSize: 96},
	} {
		if err := db.RecordExport(ctx, f.ids["baseline"], e); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEfficiency(t *testing.T) {
	f := newFixture(t)
	f.recordExports(t)
	rep := f.build(t, Options{Cost: widthCost}, "baseline", "wider", "broken", "live")
	var md bytes.Buffer
	if err := rep.Markdown(&md, true); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| run | model | image | parameters | MFLOPs / image | exports (bytes) | NeWT accuracy |",
		// The newest export of each format: the step-30 ONNX file, not the step-10 one.
		"| baseline | convnet-small w32 | 96 px | 32,000 | 256.0 | onnx 4,096; safetensors 5,200 (with head) | 0.6500 |",
		"| wider | convnet-small w64 | 96 px | 64,000 | 1024.0 | – | 0.6250 |",
		"| broken | convnet-small w32 | – | – | – | – | not evaluated |",
		"| live | convnet-small w32 | 96 px | 32,000 | 256.0 | – | not evaluated |",
		`⚠ broken: no cost: model.backbone "mlp" is not one natssl knows`,
		"![NeWT accuracy against MFLOPs per image](efficiency.svg)",
		"| baseline | onnx | 10 | 96 px | no | 3,000 | a1a1a1a1a1a1 | runs/baseline/exports/step-10.onnx |",
		"| baseline | safetensors | 30 | 96 px | yes | 5,200 | b2b2b2b2b2b2 | runs/baseline/exports/step-30-head.safetensors |",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q", want)
		}
	}

	// The scatter: baseline and wider (the runs with a cost and a mean), wider four times the
	// MFLOPs and 2.5 points lower; on a log axis from 100 to 10,000 MFLOPs.
	checkPlots(t, rep.Plots, runLabels(rep))
	svg := rep.plot(t, "efficiency.svg")
	at := map[int][2]float64{} // each run's marker: a circle for the baseline, a box for wider
	for _, s := range svgShapes(svg) {
		for i := range rep.Runs {
			if s.style == "fill:"+hexColor(runColor(i)) {
				if _, ok := at[i]; !ok { // the point; the legend's glyph comes after
					c := centre(s.points)
					if i == 0 {
						c[0] -= 4 // the baseline's circle: its path starts on its right edge
					}
					at[i] = c
				}
			}
		}
	}
	if len(at) != 2 {
		t.Fatalf("points of runs %v, want baseline and wider", at)
	}
	texts := svgTexts(svg)
	for _, w := range []string{"100", "10000", "baseline", "wider"} {
		if !contains(texts, w) {
			t.Errorf("scatter lacks the text %q: %q", w, texts)
		}
	}
	// The vertical grid lines mark the decades: 100, 1000, 10000 MFLOPs.
	var grid []float64
	for _, s := range svgShapes(svg) {
		if strings.Contains(s.style, "stroke:"+hexColor(color.Gray{Y: 128})) && len(s.points) == 2 && s.points[0][0] == s.points[1][0] {
			grid = append(grid, s.points[0][0])
		}
	}
	sort.Float64s(grid)
	if len(grid) != 3 {
		t.Fatalf("vertical grid lines at %v", grid)
	}
	x100, x10000 := grid[0], grid[len(grid)-1]
	xOf := func(mflops float64) float64 { return x100 + (math.Log10(mflops)-2)/2*(x10000-x100) }
	b, w := at[0], at[1]
	if math.Abs(b[0]-xOf(256)) > 0.5 || math.Abs(w[0]-xOf(1024)) > 0.5 {
		t.Errorf("points at x %.2f and %.2f, want %.2f (256 MFLOPs) and %.2f (1024)", b[0], w[0], xOf(256), xOf(1024))
	}
	if w[1] >= b[1] { // gonum's SVG y grows upward
		t.Errorf("wider (0.625) at y %.2f, not below baseline (0.65) at %.2f", w[1], b[1])
	}

	// Without a cost for two evaluated runs there is no scatter, and no cost columns.
	rep = f.build(t, Options{}, "baseline", "wider")
	for _, p := range rep.Plots {
		if p.File == "efficiency.svg" {
			t.Error("efficiency scatter drawn without costs")
		}
	}
	md.Reset()
	if err := rep.Markdown(&md, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| wider | convnet-small w64 | – | – | – | – | 0.6250 |") {
		t.Errorf("markdown without costs:\n%s", md.String())
	}
}

func TestNoExports(t *testing.T) {
	rep := newFixture(t).build(t, Options{Cost: widthCost}, "baseline", "broken")
	var md bytes.Buffer
	if err := rep.Markdown(&md, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "No run was exported (natssl export --run RUN_ID --format onnx).") {
		t.Error("markdown does not say that no run was exported")
	}
	// One run with a cost and a mean is no comparison: no scatter.
	for _, p := range rep.Plots {
		if p.File == "efficiency.svg" {
			t.Error("efficiency scatter drawn for one run")
		}
	}
}
