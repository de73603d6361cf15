//go:build cgo && !noturbojpeg

package augment

import (
	"math"
	"math/rand/v2"
	"testing"
)

// These tests hold the C passes (kernels.c) to their Go twins. The pure-Go build has only the
// Go passes, so they exist only in the cgo build.

// TestKernelsMatchGo holds the C pixel passes to their Go twins on views of a real photo:
// every drawn crop, colour order and factor, blur radius and solarize, plus factors above 1
// that clamp. The two may differ only by float rounding.
func TestKernelsMatchGo(t *testing.T) {
	t.Logf("kernels: %s", Kernels)
	data := fixture(t, "photo500.jpg")
	rng := rand.New(rand.NewPCG(7, 8))
	cfg := simclr()
	cfg.Blur.P, cfg.SolarizeP = 0.5, 0.3
	for _, size := range []int{17, 96} {
		w := newWorker(t, cfg, size)
		iw, ih, err := w.dec.Config(data)
		if err != nil {
			t.Fatal(err)
		}
		n := 3 * size * size
		for i := range 40 {
			var vp [2]viewParams
			w.sampleViews(SampleRNG(9, 0, int64(i)), iw, ih, &vp)
			v := vp[0]
			if i%4 == 3 { // strong factors: every blend clamps somewhere
				v.jitter, v.bright, v.contr, v.satur, v.hue = true, 1.9, 1.8, 2.5, -0.45
			}
			denom := []int{1, 2, 4}[i%3]
			if err := w.dec.DecodeRegion(data, denom, v.box(denom), &w.img); err != nil {
				t.Fatal(err)
			}
			plain := v
			plain.jitter, plain.gray, plain.blur, plain.solarize = false, false, false, false
			dst := make([]float32, n)
			w.render(&plain, denom, dst) // sets up the taps and resamples through the build's kernel
			got := append([]float32(nil), w.hwc...)
			w.resampleGo()
			want := append([]float32(nil), w.hwc...)
			compare(t, "resample", i, got, want)

			got = append([]float32(nil), want...)
			colour(&v, got, 3*size)
			colourGo(&v, want, 3*size)
			compare(t, "colour", i, got, want)

			r := 1 + rng.IntN(newBlurSize(size).radius(2)+1)
			sigma := 0.1 + 1.9*rng.Float64()
			tmp := make([]float32, n+3*(size+2*r))
			gaussianBlur(got, tmp, size, size, r, sigma)
			gaussianBlurGo(want, tmp, size, size, r, sigma)
			compare(t, "blur", i, got, want)

			g, wo := make([]float32, n), make([]float32, n)
			normalise(got, g, size*size, v.solarize || i%2 == 0)
			normaliseGo(got, wo, size*size, v.solarize || i%2 == 0)
			compare(t, "normalise", i, g, wo)
		}
	}
}

// compare fails when two outputs differ beyond float rounding (on a 0–255 scale, or of the
// normalised values).
func compare(t *testing.T, pass string, i int, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s, view %d: %d values; Go gives %d", pass, i, len(got), len(want))
	}
	for j := range got {
		if d := math.Abs(float64(got[j] - want[j])); d > 2e-3*max(1, math.Abs(float64(want[j]))) || math.IsNaN(d) {
			t.Fatalf("%s, view %d: value %d = %v; Go gives %v", pass, i, j, got[j], want[j])
		}
	}
}

// TestHueKernelMatchesGo: the C hue rotation against hueRow on 10,000 pixels of
// whole and fractional levels, for shifts that land hues exactly on a sector boundary or on the
// wrap at 0 (where -1e-8 + 6 rounds to 6).
func TestHueKernelMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	px := make([]float32, 3*10000)
	for i := range px {
		px[i] = float32(rng.IntN(256))
		if i%7 == 0 {
			px[i] = 255 * rng.Float32()
		}
	}
	for _, h := range []float32{0.1, -0.1, 0.05, -0.5, 0.5, 1.0 / 3, -1.0 / 6} {
		want := append([]float32(nil), px...)
		hueRow(want, h)
		got := append([]float32(nil), px...)
		v := viewParams{jitter: true, order: [4]uint8{opHue, opBrightness, opContrast, opSaturation}, bright: 1, contr: 1, satur: 1, hue: h}
		colour(&v, got, len(got))
		for i := range got {
			if d := math.Abs(float64(got[i] - want[i])); d > 1e-3 {
				p := i / 3 * 3
				t.Fatalf("hue %v of %v = %v; hueRow gives %v", h, px[p:p+3], got[p:p+3], want[p:p+3])
			}
		}
	}
}
