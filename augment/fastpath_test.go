package augment

import (
	"testing"

	"github.com/natssl/natssl/decode"
)

// drawParams replays TwoViews' draws: both views' parameters from the header size.
func drawParams(w *Worker, data []byte, seed int64, i int) [2]viewParams {
	iw, ih, _ := w.dec.Config(data)
	var vp [2]viewParams
	w.sampleViews(SampleRNG(seed, 1, int64(i)), iw, ih, &vp)
	return vp
}

// scaleFor is the DCT scale TwoViews picks for these views.
func scaleFor(w *Worker, p [2]viewParams, size int) int {
	return dctScale([]byte{0xFF, 0xD8}, w.p.scaleAt, min(p[0].cw, p[0].ch, p[1].cw, p[1].ch), size)
}

// TestFastPathMatchesReference checks the fused passes against the plain reference on the
// same decoded pixels (at the DCT scale TwoViews chose), view by view.
func TestFastPathMatchesReference(t *testing.T) {
	for _, size := range []int{24, 96, 160} {
		w := newWorker(t, simclr(), size)
		for _, file := range fixtures {
			data := fixture(t, file)
			var worst float64
			for i := range 6 {
				v := [2][]float32{make([]float32, 3*size*size), make([]float32, 3*size*size)}
				if err := w.TwoViews(data, SampleRNG(3, 1, int64(i)), v[0], v[1]); err != nil {
					t.Fatal(err)
				}
				p := drawParams(w, data, 3, i)
				denom := scaleFor(w, p, size)
				var img decode.Image
				if err := w.dec.Decode(data, denom, &img); err != nil {
					t.Fatal(err)
				}
				for j := range v {
					d := meanAbs255(v[j], refView(&img, denom, &p[j], size))
					worst = max(worst, d)
					if d > 0.25 {
						t.Errorf("%s at %d, sample %d view %d (%+v): mean |fast - reference| = %.3f/255; want <= 0.25", file, size, i, j, p[j], d)
					}
				}
			}
			t.Logf("%s at %d: worst mean |fast - reference| = %.4f/255", file, size, worst)
		}
	}
}

// TestDCTScalingMatchesFullResolution measures what decoding at 1/2 or 1/4 costs: views
// built from the downscaled decode against the reference built from the full-resolution
// decode, averaged over the views that were downscaled, on photos from the benchmark set.
func TestDCTScalingMatchesFullResolution(t *testing.T) {
	if !dctScaling { // the pure-Go build must never downscale: it would only add work
		if d := dctScale(fixture(t, "photo500.jpg"), 1, 500, 24); d != 1 {
			t.Fatalf("pure-Go build: dctScale = %d; want 1", d)
		}
		return
	}
	for _, size := range []int{24, 64, 96} {
		w := newWorker(t, simclr(), size)
		var sum, worst float64
		n := 0
		for _, file := range []string{"photo500.jpg", "photo500b.jpg", "photo500c.jpg"} {
			data := fixture(t, file)
			var full decode.Image
			if err := w.dec.Decode(data, 1, &full); err != nil {
				t.Fatal(err)
			}
			for i, used := 0, 0; used < 4 && i < 200; i++ {
				p := drawParams(w, data, 5, i)
				if scaleFor(w, p, size) == 1 {
					continue
				}
				used++
				v := [2][]float32{make([]float32, 3*size*size), make([]float32, 3*size*size)}
				if err := w.TwoViews(data, SampleRNG(5, 1, int64(i)), v[0], v[1]); err != nil {
					t.Fatal(err)
				}
				for j := range v {
					d := meanAbs255(v[j], refView(&full, 1, &p[j], size))
					sum += d
					worst = max(worst, d)
					n++
				}
			}
		}
		if n == 0 {
			t.Fatalf("at %d no sample used DCT scaling", size)
		}
		mean := sum / float64(n)
		t.Logf("at %d: %d downscaled views, mean |fast - full-resolution reference| = %.3f/255 (worst view %.3f)", size, n, mean, worst)
		if mean > 1 {
			t.Errorf("at %d: mean |fast - full-resolution reference| = %.3f/255 over %d views; want <= 1", size, mean, n)
		}
	}
}
