package report

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/natssl/natssl/experiments"
)

var (
	svgText    = regexp.MustCompile(`<text x="([-0-9.e]+)"[^>]*>([^<]*)</text>`)
	svgColour  = regexp.MustCompile(`(?:fill|stroke):(#[0-9A-F]{6})`)
	plotAreaRe = regexp.MustCompile(`<path d="M0,0L([0-9.]+),0L[0-9.]+,[0-9.]+L0,[0-9.]+Z" style="fill:#FFFFFF" />`)
)

// TestPlotsScaleAndLegendsBeside: every plot scales to its container (width 100%, a viewBox,
// no fixed size), keeps its legend in a column right of the plot (no label over the data),
// and draws only in the colour-blind-safe palette, greys, black and white.
func TestPlotsScaleAndLegendsBeside(t *testing.T) {
	stats := newStatsFixture(t).build(t, Options{}, "base-s1", "base-s2", "wide-s1", "wide-s2", "old")
	series := newFixture(t).build(t, Options{}, "baseline", "wider", "broken", "live")
	for _, rep := range []*Report{stats, series} {
		checkPlots(t, rep.Plots, runLabels(rep))
	}
	if len(stats.Plots)+len(series.Plots) != 3+4 {
		t.Errorf("%d and %d plots, want 3 (no training metrics) and 4 (no intervals)", len(stats.Plots), len(series.Plots))
	}
}

// runLabels are the runs' labels, which a comparison's legends show.
func runLabels(rep *Report) []string {
	var out []string
	for _, r := range rep.Runs {
		out = append(out, r.Label)
	}
	return out
}

// checkPlots holds plots to the report's plotting: SVG that scales, legends (the entries of
// legend) beside the plot, the palette.
func checkPlots(t *testing.T, plots []Plot, legend []string) {
	t.Helper()
	allowed := map[string]bool{"#FFFFFF": true, "#000000": true}
	for _, c := range []string{"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"} { // Okabe–Ito
		allowed[c] = true
	}
	isLegend := map[string]bool{}
	for _, l := range legend {
		isLegend[l] = true
	}
	for _, p := range plots {
		t.Run(p.File, func(t *testing.T) {
			svg := string(p.SVG)
			root := svg[strings.Index(svg, "<svg"):]
			root = root[:strings.Index(root, ">")]
			if !strings.Contains(root, `width="100%"`) || !strings.Contains(root, "viewBox=") || strings.Contains(root, "height=") {
				t.Errorf("root element %q: want width 100%%, a viewBox and no fixed height", root)
			}
			areas := plotAreaRe.FindAllStringSubmatch(svg, -1)
			if len(areas) < 2 {
				t.Fatalf("no plot area in the SVG")
			}
			plotW, _ := strconv.ParseFloat(areas[1][1], 64) // the first is the whole canvas
			n := 0
			for _, m := range svgText.FindAllStringSubmatch(svg, -1) {
				if !isLegend[m[2]] {
					continue
				}
				n++
				if x, _ := strconv.ParseFloat(m[1], 64); x < plotW {
					t.Errorf("legend label %q at x %v, over the plot (which ends at %v)", m[2], x, plotW)
				}
			}
			if n == 0 {
				t.Error("no legend")
			}
			for _, m := range svgColour.FindAllStringSubmatch(svg, -1) {
				c := m[1]
				if r, g, b := c[1:3], c[3:5], c[5:7]; !allowed[c] && !(r == g && g == b) {
					t.Errorf("colour %s is outside the palette", c)
				}
			}
		})
	}
}

func TestPlural(t *testing.T) {
	for n, want := range map[int]string{0: "0 runs", 1: "1 run", 2: "2 runs"} {
		if got := plural(n, "run"); got != want {
			t.Errorf("plural(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestSeriesAgainstImagesSeen: runs of different batch sizes are plotted against the images
// they have seen; runs of one batch size, and a run whose batch is unknown, against steps.
func TestSeriesAgainstImagesSeen(t *testing.T) {
	loss := []experiments.Point{{Step: 10, Value: 2}, {Step: 20, Value: 1}}
	run := func(batch int64) *Run { return &Run{Label: fmt.Sprint("b", batch), Batch: batch, Loss: loss} }
	tests := []struct {
		name    string
		runs    []*Run
		axis    string
		lastX   []float64 // per run
		xLabels []string  // tick labels that must appear
	}{
		{"one batch size", []*Run{run(64), run(64)}, "step", []float64{20, 20}, nil},
		{"two batch sizes", []*Run{run(64), run(512)}, "images seen", []float64{1280, 10240}, nil},
		{"a batch unknown", []*Run{run(64), run(0)}, "step", []float64{20, 20}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ax := seriesAxis(tt.runs)
			if ax.name != tt.axis {
				t.Fatalf("axis %q, want %q", ax.name, tt.axis)
			}
			for i, r := range tt.runs {
				per := 1.0
				if ax.images {
					per = float64(r.Batch)
				}
				xys := finite(r.Loss, per)
				if got := xys[len(xys)-1].X; got != tt.lastX[i] {
					t.Errorf("run %d ends at x %v, want %v", i, got, tt.lastX[i])
				}
			}
			c, err := seriesPlot(tt.runs, "Training loss", "loss", func(r *Run) []experiments.Point { return r.Loss })
			if err != nil || c.X.Label.Text != tt.axis {
				t.Errorf("plot's x label %q (%v), want %q", c.X.Label.Text, err, tt.axis)
			}
		})
	}
}

// TestShortRunOnTop: a run that stopped early is drawn after (over) the longer ones, and each
// line ends in its run's marker, so that it cannot hide under them.
func TestShortRunOnTop(t *testing.T) {
	rep := newFixture(t).build(t, Options{}, "baseline", "wider", "broken", "live")
	order := map[string]int{}
	for i, s := range svgShapes(rep.plot(t, "loss.svg")) {
		for j, r := range rep.Runs {
			if strings.Contains(s.style, "stroke:"+hexColor(runColor(j))+";stroke-width:1.5") && len(s.points) > 2 {
				if _, seen := order[r.Label]; !seen {
					order[r.Label] = i
				}
			}
		}
	}
	// baseline and wider have 30 points, broken 11, live 5.
	if !(order["baseline"] < order["broken"] && order["wider"] < order["broken"] && order["broken"] < order["live"]) {
		t.Errorf("drawing order %v: want the longest first and live, the shortest, last", order)
	}
}
