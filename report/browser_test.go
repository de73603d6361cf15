package report

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	stdhtml "html"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestHTMLInChromium opens report.html in headless Chromium (Debian's chromium), takes a
// screenshot and checks that the page rendered: not blank, every plot drawn in its place, and
// the statements about the numbers in the page's visible text. Set NATSSL_SCREENSHOT_DIR to keep
// the screenshots for a look.
func TestHTMLInChromium(t *testing.T) {
	browser := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		t.Fatal("headless Chromium is needed to check the HTML report (apt-get install chromium)")
	}
	tests := []struct {
		name   string
		report func(t *testing.T) *Report
		height int
		plots  map[string][]int // plot → the runs (by index) drawn in it
		text   []string         // in the rendered page's visible text
	}{
		{"four runs without outcomes", func(t *testing.T) *Report {
			return newFixture(t).build(t, Options{}, "baseline", "wider", "broken", "live")
		}, 6000, map[string][]int{
			"loss.svg": {0, 1, 2, 3}, "images_per_s.svg": {0, 1, 2, 3}, "newt_clusters.svg": {0, 1}, "newt_tasks.svg": {1},
		}, []string{"wider differs from baseline by -2.5 points (no interval: baseline has no per-image outcomes)"}},
		{"seed groups with outcomes", func(t *testing.T) *Report {
			return newStatsFixture(t).build(t, Options{}, "base-s1", "base-s2", "wide-s1", "wide-s2", "old")
		}, 7600, map[string][]int{
			"newt_clusters.svg": {0, 1, 2, 3, 4}, "newt_tasks.svg": {1, 2, 3, 4}, "newt_delta.svg": {1, 2, 3},
		}, []string{"wide-s1 beats base-s1 by +8.8 points [", "wide (2 seeds) beats base (2 seeds) by +8.8 points [",
			"base | base-s1, base-s2 | 1, 2", "95% Wilson interval"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := tt.report(t)
			checkPage(t, browser, rep, tt.height, tt.plots, tt.text)
		})
	}
}

func checkPage(t *testing.T, browser string, rep *Report, height int, want map[string][]int, texts []string) {
	dir := t.TempDir()
	if _, err := rep.Write(dir, FormatHTML); err != nil {
		t.Fatal(err)
	}
	// Only report.html: the page must not need the SVG files beside it.
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("%d files written for html, want report.html alone", len(entries))
	}
	page := filepath.Join(dir, "report.html")

	// Where each plot lies on the page, and the text a reader sees: a copy of the page with a
	// script that writes them into the DOM, which --dump-dom prints. The report itself has no
	// script.
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	probe := filepath.Join(dir, "probe.html")
	script := `<script>document.body.setAttribute("data-figs", JSON.stringify([...document.querySelectorAll("figure.plot")].map(
  f => { const r = f.querySelector("img").getBoundingClientRect(); return {file: f.dataset.file, x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height}; })));
document.body.setAttribute("data-text", document.body.innerText);</script>`
	if err := os.WriteFile(probe, []byte(strings.Replace(string(html), "</body>", script+"</body>", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	const width = 1280
	dom := chromium(t, browser, dir, width, height, "--dump-dom", "file://"+probe)
	m := regexp.MustCompile(`data-figs="([^"]*)"`).FindSubmatch(dom)
	if m == nil {
		t.Fatalf("no figure boxes in the dumped DOM:\n%.2000s", dom)
	}
	var figs []struct {
		File       string
		X, Y, W, H float64
	}
	if err := json.Unmarshal([]byte(stdhtml.UnescapeString(string(m[1]))), &figs); err != nil {
		t.Fatalf("figure boxes %s: %v", m[1], err)
	}
	tm := regexp.MustCompile(`data-text="([^"]*)"`).FindSubmatch(dom)
	if tm == nil {
		t.Fatal("no page text in the dumped DOM")
	}
	// innerText puts a tab between table cells; read them as Markdown's " | ".
	seen := strings.ReplaceAll(stdhtml.UnescapeString(string(tm[1])), "\t", " | ")
	for _, want := range texts {
		if !strings.Contains(seen, want) {
			t.Errorf("the page does not show %q", want)
		}
	}

	shot := filepath.Join(dir, "shot.png")
	chromium(t, browser, dir, width, height, "--screenshot="+shot, "file://"+page)
	fh, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	img, err := png.Decode(fh)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if keep := os.Getenv("NATSSL_SCREENSHOT_DIR"); keep != "" {
		if data, err := os.ReadFile(shot); err == nil {
			os.WriteFile(filepath.Join(keep, "report-screenshot-"+strings.ReplaceAll(t.Name(), "/", "-")+".png"), data, 0o644)
		}
	}
	b := img.Bounds()
	if b.Dx() != width || b.Dy() != height {
		t.Fatalf("screenshot %v, want %dx%d", b, width, height)
	}

	// Not blank: a good share of the page is ink (text, table rules, plots).
	ink := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if r, g, bl, _ := img.At(x, y).RGBA(); r < 0xE000 || g < 0xE000 || bl < 0xE000 {
				ink++
			}
		}
	}
	if frac := float64(ink) / float64(b.Dx()*b.Dy()); frac < 0.02 {
		t.Fatalf("page looks blank: %.4f of pixels inked", frac)
	}

	// Every plot is drawn where its figure is: inside each box, the colours of the runs it
	// plots (the tables use none of them).
	if len(figs) != len(want) {
		t.Fatalf("%d figures on the page, want %d", len(figs), len(want))
	}
	for _, f := range figs {
		runs, ok := want[f.File]
		if !ok {
			t.Errorf("unexpected figure %s", f.File)
			continue
		}
		box := image.Rect(int(f.X), int(f.Y), int(f.X+f.W), int(f.Y+f.H))
		if box.Dx() < 300 || box.Dy() < 150 || !box.In(b) {
			t.Errorf("%s: box %v: too small or off the screenshot", f.File, box)
			continue
		}
		for _, i := range runs {
			if n := countColor(img, box, runColor(i)); n < 20 {
				t.Errorf("%s: %d pixels of %s's colour in %v: not drawn", f.File, n, rep.Runs[i].Label, box)
			}
		}
	}
}

// chromium runs headless Chromium with args and returns its standard output.
func chromium(t *testing.T, browser, dir string, width, height int, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
		"--force-device-scale-factor=1", fmt.Sprintf("--window-size=%d,%d", width, height), "--user-data-dir=" + filepath.Join(dir, "profile")}
	cmd := exec.CommandContext(ctx, browser, append(base, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

func near8(a, b uint32) bool { return a>>8 <= b>>8+12 && b>>8 <= a>>8+12 }

func matches(c color.Color, want color.Color) bool {
	r, g, b, _ := c.RGBA()
	wr, wg, wb, _ := want.RGBA()
	return near8(r, wr) && near8(g, wg) && near8(b, wb)
}

func countColor(img image.Image, b image.Rectangle, want color.Color) int {
	n := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if matches(img.At(x, y), want) {
				n++
			}
		}
	}
	return n
}
