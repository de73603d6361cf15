package augment

import (
	"errors"
	"math"
	"testing"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/decode"
)

// mirror flips a CHW view left to right.
func mirror(v []float32, size int) []float32 {
	out := make([]float32, len(v))
	for r := 0; r < len(v)/size; r++ {
		for x := range size {
			out[r*size+x] = v[r*size+size-1-x]
		}
	}
	return out
}

func maxAbs(a, b []float32) float64 {
	var m float64
	for i := range a {
		m = max(m, math.Abs(float64(a[i]-b[i])))
	}
	return m
}

func twoViews(t *testing.T, cfg configs.Augment, size int, data []byte, seed int64) [2][]float32 {
	t.Helper()
	w := newWorker(t, cfg, size)
	v := [2][]float32{make([]float32, 3*size*size), make([]float32, 3*size*size)}
	if err := w.TwoViews(data, SampleRNG(seed, 0, 0), v[0], v[1]); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestFlip: a flipped view mirrored back is the unflipped view (flip twice = identity), with
// everything else about the views the same random draws.
func TestFlip(t *testing.T) {
	for _, file := range fixtures {
		for _, size := range []int{17, 64} {
			for seed := range int64(4) {
				flipped, plain := simclr(), simclr()
				flipped.FlipP, plain.FlipP = 1, 0
				a := twoViews(t, flipped, size, fixture(t, file), seed)
				b := twoViews(t, plain, size, fixture(t, file), seed)
				for j := range a {
					// Sums run in another order for the contrast mean and the blur: allow rounding.
					if d := maxAbs(mirror(a[j], size), b[j]); d > 1e-4 {
						t.Errorf("%s at %d seed %d view %d: max |mirror(flipped) - plain| = %g", file, size, seed, j, d)
					}
					if d := maxAbs(a[j], b[j]); d == 0 && size > 1 {
						t.Errorf("%s at %d seed %d view %d: flip_p=1 changed nothing", file, size, seed, j)
					}
				}
			}
		}
	}
}

// TestZeroStrengthJitterIsIdentity: jitter applied every time with all strengths 0 gives the
// same bytes as no jitter at all.
func TestZeroStrengthJitterIsIdentity(t *testing.T) {
	base := simclr()
	base.FlipP, base.GrayscaleP, base.Blur.P, base.SolarizeP = 0.5, 0, 0, 0
	zero, off := base, base
	zero.Jitter = configs.Jitter{P: 1}
	off.Jitter = configs.Jitter{Brightness: 0.8, Contrast: 0.8, Saturation: 0.8, Hue: 0.2, P: 0}
	for _, file := range fixtures {
		for seed := range int64(4) {
			a := twoViews(t, zero, 48, fixture(t, file), seed)
			b := twoViews(t, off, 48, fixture(t, file), seed)
			for j := range a {
				if d := maxAbs(a[j], b[j]); d != 0 {
					t.Errorf("%s seed %d view %d: max |zero-strength jitter - no jitter| = %g; want 0", file, seed, j, d)
				}
			}
		}
	}
}

// TestIdentityRecipe: no randomness at all (the whole image, no flip, no colour) at the
// image's own size reproduces the decoded pixels.
func TestIdentityRecipe(t *testing.T) {
	cfg := configs.Augment{CropScale: [2]float64{1, 1}, CropRatio: [2]float64{1, 1}}
	data := fixture(t, "fmnist_shirt.jpg") // 28×28
	v := twoViews(t, cfg, 28, data, 0)
	d := decode.NewDecoder()
	defer d.Close()
	var m decode.Image
	if err := d.Decode(data, 1, &m); err != nil {
		t.Fatal(err)
	}
	n := 28 * 28
	for i := range n {
		for c := range 3 {
			want := (float32(m.Pix[3*i+c])/255 - Mean[c]) / Std[c]
			for j := range v {
				if got := v[j][c*n+i]; math.Abs(float64(got-want)) > 1e-5 {
					t.Fatalf("view %d pixel %d channel %d = %v; want %v", j, i, c, got, want)
				}
			}
		}
	}
}

// TestGrayscaleAndSolarize check the two operations on their own through the public API.
func TestGrayscaleAndSolarize(t *testing.T) {
	cfg := configs.Augment{CropScale: [2]float64{0.3, 1}, CropRatio: [2]float64{0.75, 1.33}, GrayscaleP: 1}
	v := twoViews(t, cfg, 32, fixture(t, "photo500.jpg"), 1)
	n := 32 * 32
	for i := range n {
		r := v[0][i]*Std[0] + Mean[0]
		g := v[0][n+i]*Std[1] + Mean[1]
		b := v[0][2*n+i]*Std[2] + Mean[2]
		if math.Abs(float64(r-g)) > 1e-5 || math.Abs(float64(r-b)) > 1e-5 {
			t.Fatalf("grayscale pixel %d = %v %v %v: channels differ", i, r, g, b)
		}
	}
	cfg.GrayscaleP = 0
	plain := twoViews(t, cfg, 32, fixture(t, "photo500.jpg"), 1)
	cfg.SolarizeP = 1
	sol := twoViews(t, cfg, 32, fixture(t, "photo500.jpg"), 1)
	for i := range plain[0] {
		c := i / n
		x := 255 * (plain[0][i]*Std[c] + Mean[c])
		want := x
		if x >= 128 {
			want = 255 - x
		}
		if got := 255 * (sol[0][i]*Std[c] + Mean[c]); math.Abs(float64(got-want)) > 1e-3 {
			t.Fatalf("solarized value %d = %v; want %v (from %v)", i, got, want, x)
		}
	}
}

func TestHueShiftRoundTrip(t *testing.T) {
	for _, p := range [][3]float32{{255, 0, 0}, {10, 200, 30}, {90, 90, 91}, {0, 0, 0}, {255, 255, 255}, {12, 34, 250}} {
		for _, h := range []float32{0, 0.1, -0.3, 0.5} {
			r, g, b := hueShift(p[0], p[1], p[2], h)
			r, g, b = hueShift(r, g, b, -h)
			if d := max(abs32(r-p[0]), abs32(g-p[1]), abs32(b-p[2])); d > 1e-3 {
				t.Errorf("hue %v and back on %v = %v %v %v", h, p, r, g, b)
			}
			ref := refHue([3]float64{float64(p[0]), float64(p[1]), float64(p[2])}, float64(h))
			r, g, b = hueShift(p[0], p[1], p[2], h)
			if d := max(abs32(r-float32(ref[0])), abs32(g-float32(ref[1])), abs32(b-float32(ref[2]))); d > 1e-3 {
				t.Errorf("hueShift(%v, %v) = %v %v %v; reference %v", p, h, r, g, b, ref)
			}
		}
	}
}

func abs32(x float32) float32 { return float32(math.Abs(float64(x))) }

// TestCropBoxFits: every box lies inside the image, for extreme shapes and parameters.
func TestCropBoxFits(t *testing.T) {
	rng := SampleRNG(1, 2, 3)
	for _, sz := range [][2]int{{1, 1}, {1, 500}, {500, 1}, {28, 28}, {500, 375}, {3, 1000}} {
		for _, sc := range [][2]float64{{0.08, 1}, {1, 1}, {0.001, 0.002}} {
			for _, ra := range [][2]float64{{0.75, 4.0 / 3}, {10, 20}, {0.01, 0.02}} {
				for range 50 {
					x, y, w, h := cropBox(rng, sz[0], sz[1], sc, ra)
					if w < 1 || h < 1 || x < 0 || y < 0 || x+w > sz[0] || y+h > sz[1] {
						t.Fatalf("cropBox(%v, scale %v, ratio %v) = %d,%d %dx%d: outside", sz, sc, ra, x, y, w, h)
					}
				}
			}
		}
	}
}

// FuzzTwoViews: arbitrary bytes either give two finite views or an error wrapping
// decode.ErrCorrupt.
func FuzzTwoViews(f *testing.F) {
	for _, file := range fixtures {
		f.Add(fixture(f, file), int64(0))
	}
	p, err := New(simclr(), 16)
	if err != nil {
		f.Fatal(err)
	}
	w := p.NewWorker()
	f.Cleanup(w.Close)
	v1, v2 := make([]float32, 3*16*16), make([]float32, 3*16*16)
	f.Fuzz(func(t *testing.T, data []byte, seed int64) {
		if err := w.TwoViews(data, SampleRNG(seed, 0, 0), v1, v2); err != nil {
			if !errors.Is(err, decode.ErrCorrupt) {
				t.Fatalf("error %v does not wrap decode.ErrCorrupt", err)
			}
			return
		}
		for _, x := range append(v1, v2...) {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Fatalf("non-finite value %v", x)
			}
		}
	})
}

// hueShift is hueRow on one pixel.
func hueShift(r, g, b, h float32) (float32, float32, float32) {
	px := []float32{r, g, b}
	hueRow(px, h)
	return px[0], px[1], px[2]
}
