package report

import (
	"fmt"
	"image/color"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/plot/plotter"
)

// The plots are checked by reading the SVG that gonum/plot wrote: each series is a path (or a
// set of glyphs) in its run's colour, and the legend names each run.

var svgPath = regexp.MustCompile(`<path d="([^"]*)" style="([^"]*)"`)

type svgShape struct {
	points [][2]float64 // the M and L vertices (arc commands are skipped)
	style  string
}

func svgShapes(svg []byte) []svgShape {
	var out []svgShape
	num := regexp.MustCompile(`[ML]([-0-9.e]+),([-0-9.e]+)`)
	for _, m := range svgPath.FindAllStringSubmatch(string(svg), -1) {
		s := svgShape{style: m[2]}
		for _, p := range num.FindAllStringSubmatch(m[1], -1) {
			x, _ := strconv.ParseFloat(p[1], 64)
			y, _ := strconv.ParseFloat(p[2], 64)
			s.points = append(s.points, [2]float64{x, y})
		}
		out = append(out, s)
	}
	return out
}

func hexColor(c color.Color) string {
	r, g, b, _ := c.RGBA()
	return fmt.Sprintf("#%02X%02X%02X", r>>8, g>>8, b>>8)
}

func (rep *Report) plot(t *testing.T, file string) []byte {
	t.Helper()
	for _, p := range rep.Plots {
		if p.File == file {
			return p.SVG
		}
	}
	t.Fatalf("no plot %s", file)
	return nil
}

func svgTexts(svg []byte) []string {
	var out []string
	for _, m := range regexp.MustCompile(`<text[^>]*>([^<]*)</text>`).FindAllStringSubmatch(string(svg), -1) {
		out = append(out, m[1])
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestSeriesPlots(t *testing.T) {
	f := newFixture(t)
	rep := f.build(t, Options{}, "baseline", "wider", "broken", "live")
	tests := []struct {
		file   string
		points []int // finite points per run
	}{
		{"loss.svg", []int{30, 30, 11, 5}}, // broken's NaN at step 12 is left out
		{"images_per_s.svg", []int{30, 30, 12, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			svg := rep.plot(t, tt.file)
			texts := svgTexts(svg)
			shapes := svgShapes(svg)
			for i, r := range rep.Runs {
				if !contains(texts, r.Label) {
					t.Errorf("legend lacks %s", r.Label)
				}
				stroke := "stroke:" + hexColor(runColor(i)) + ";stroke-width:1.5"
				var lines []int
				for _, s := range shapes {
					if strings.Contains(s.style, stroke) {
						lines = append(lines, len(s.points))
					}
				}
				// The series, and the legend's two-point sample.
				sort.Ints(lines)
				if want := []int{2, tt.points[i]}; !equalInts(lines, want) {
					t.Errorf("%s: lines of %v points, want %v", r.Label, lines, want)
				}
			}
		})
	}
	// The series follows the data: the baseline's loss falls by the same amount each step,
	// so its vertices are evenly spaced and descending.
	for _, s := range svgShapes(rep.plot(t, "loss.svg")) {
		if strings.Contains(s.style, "stroke:"+hexColor(runColor(0))) && len(s.points) == 30 {
			dy := s.points[1][1] - s.points[0][1]
			for i := 1; i < len(s.points); i++ {
				if d := s.points[i][1] - s.points[i-1][1]; dy >= 0 || math.Abs(d-dy) > 0.02 {
					t.Fatalf("baseline loss vertex %d: step %v, want %v (falling)", i, d, dy)
				}
			}
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestClusterBars(t *testing.T) {
	f := newFixture(t)
	rep := f.build(t, Options{}, "baseline", "wider", "broken")
	svg := rep.plot(t, "newt_clusters.svg")
	texts := svgTexts(svg)
	for _, want := range []string{"Birds", "Fungi", "Plants", "baseline", "wider"} {
		if !contains(texts, want) {
			t.Errorf("bars lack the label %q", want)
		}
	}
	if contains(texts, "broken") {
		t.Error("an unevaluated run has bars")
	}
	want := map[int][]float64{0: {0.7, 0.4, 0.7}, 1: {0.7, 0.2, 0.725}} // per run, per cluster
	for run, values := range want {
		var heights []float64
		for _, s := range svgShapes(svg) {
			if s.style == "fill:"+hexColor(runColor(run)) && len(s.points) == 4 {
				heights = append(heights, s.points[1][1]-s.points[0][1])
			}
		}
		if len(heights) != len(values)+1 { // the bars and the legend's swatch
			t.Fatalf("run %d: %d filled shapes, want %d", run, len(heights), len(values)+1)
		}
		// The y axis starts at 0, so heights are proportional to the values.
		scale := heights[0] / values[0]
		for i, v := range values {
			if math.Abs(heights[i]-v*scale) > 0.05 {
				t.Errorf("run %d cluster %d: height %.2f, want %.2f", run, i, heights[i], v*scale)
			}
		}
	}
}

// TestTaskScatter: one marker per task at (baseline, run), on axes fitted to the values with
// the diagonal from corner to corner.
func TestTaskScatter(t *testing.T) {
	f := newFixture(t)
	rep := f.build(t, Options{}, "baseline", "wider")
	svg := rep.plot(t, "newt_tasks.svg")
	c, err := taskScatter(rep)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := c.X.Min, c.X.Max
	if c.Y.Min != lo || c.Y.Max != hi || !(lo > 0.1 && lo < 0.2 && hi > 0.95 && hi <= 1) {
		t.Errorf("axes x [%v, %v] y [%v, %v]: want the same range, fitted to the values 0.2 to 0.95", lo, hi, c.Y.Min, c.Y.Max)
	}
	var diag *svgShape
	var dots [][2]float64
	for _, s := range svgShapes(svg) {
		switch {
		case strings.Contains(s.style, "stroke-dasharray"):
			diag = &s
		case s.style == "fill:"+hexColor(runColor(1)):
			dots = append(dots, centre(s.points))
		}
	}
	if diag == nil || len(diag.points) != 2 {
		t.Fatal("no diagonal")
	}
	// The legend is drawn last: its marker is the last one.
	if len(dots) != len(fixtureTasks)+1 {
		t.Fatalf("%d markers, want one per task and the legend's", len(dots))
	}
	dots = dots[:len(dots)-1]
	// The diagonal runs from data (lo,lo) to (hi,hi): it gives the axes' transform.
	x0, y0, x1, y1 := diag.points[0][0], diag.points[0][1], diag.points[1][0], diag.points[1][1]
	var got []string
	for _, d := range dots {
		x, y := lo+(hi-lo)*(d[0]-x0)/(x1-x0), lo+(hi-lo)*(d[1]-y0)/(y1-y0)
		got = append(got, fmt.Sprintf("%.2f,%.2f", x, y))
	}
	var want []string
	for _, tk := range fixtureTasks {
		want = append(want, fmt.Sprintf("%.2f,%.2f", tk.base, tk.wider))
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("scatter points %v, want %v", got, want)
	}
	if !contains(svgTexts(svg), "wider") {
		t.Error("legend lacks wider")
	}
}

// centre is the middle of a marker's vertices (a box's corners).
func centre(pts [][2]float64) [2]float64 {
	minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, p := range pts {
		minX, maxX, minY, maxY = min(minX, p[0]), max(maxX, p[0]), min(minY, p[1]), max(maxY, p[1])
	}
	return [2]float64{(minX + maxX) / 2, (minY + maxY) / 2}
}

func TestThinKeepsEndsAndSpikes(t *testing.T) {
	var xys plotter.XYs
	for i := range 100000 {
		y := math.Sin(float64(i) / 1000)
		if i == 54321 {
			y = 50 // a loss spike must survive thinning
		}
		xys = append(xys, plotter.XY{X: float64(i), Y: y})
	}
	got := thin(xys, 2000)
	if len(got) > 2000 || len(got) < 1500 {
		t.Fatalf("%d points, want at most 2000 (and most of them)", len(got))
	}
	if got[0] != xys[0] || got[len(got)-1] != xys[len(xys)-1] {
		t.Error("first or last point dropped")
	}
	spike := false
	for i, p := range got {
		spike = spike || p.Y == 50
		if i > 0 && p.X <= got[i-1].X {
			t.Fatalf("point %d out of order: %v after %v", i, p.X, got[i-1].X)
		}
	}
	if !spike {
		t.Error("the spike was thinned away")
	}
	if short := xys[:10]; len(thin(short, 2000)) != 10 {
		t.Error("a short series was thinned")
	}
}
