package augment

import (
	"math"
	"slices"
	"testing"

	"github.com/natssl/natssl/configs"
)

// TestViewsWithoutMultiCropAreTwoViews: the loader's path (Views) with no augment.crops
// writes, bit for bit, the two views TwoViews does.
func TestViewsWithoutMultiCropAreTwoViews(t *testing.T) {
	for _, size := range []int{7, 32, 96} {
		w := newWorker(t, simclr(), size)
		if got := w.p.Views(); len(got) != 2 || got[0] != (ViewSpec{size, simclr().CropScale}) || got[1] != got[0] {
			t.Fatalf("views %+v", got)
		}
		for _, file := range fixtures {
			data := fixture(t, file)
			for i := range 4 {
				a := [][]float32{make([]float32, 3*size*size), make([]float32, 3*size*size)}
				b := [][]float32{make([]float32, 3*size*size), make([]float32, 3*size*size)}
				if err := w.TwoViews(data, SampleRNG(3, 1, int64(i)), a[0], a[1]); err != nil {
					t.Fatal(err)
				}
				if err := w.Views(data, SampleRNG(3, 1, int64(i)), b); err != nil {
					t.Fatal(err)
				}
				for v := range a {
					if !slices.Equal(a[v], b[v]) {
						t.Fatalf("%s at %d px, sample %d: view %d differs from TwoViews'", file, size, i, v+1)
					}
				}
			}
		}
	}
}

// TestMultiCropViews: the views of augment.crops come in group order at their sizes, within
// the normalised range, the same for the same stream, each crop of its own scale; a view's
// parameters do not depend on the views after it (each has its own seed, drawn in order).
func TestMultiCropViews(t *testing.T) {
	cfg := simclr()
	cfg.Crops = []configs.Crop{{Size: 32, Count: 2, Scale: [2]float64{0.5, 1}}, {Size: 12, Count: 3, Scale: [2]float64{0.05, 0.2}}}
	p, err := New(cfg, 32)
	if err != nil {
		t.Fatal(err)
	}
	w := p.NewWorker()
	defer w.Close()
	sizes := []int{32, 32, 12, 12, 12}
	specs := p.Views()
	if len(specs) != len(sizes) {
		t.Fatalf("views %+v", specs)
	}
	lo, hi := bounds()
	alloc := func() [][]float32 {
		out := make([][]float32, len(sizes))
		for i, s := range sizes {
			out[i] = make([]float32, 3*s*s)
		}
		return out
	}
	data := fixture(t, "photo500.jpg")
	for i := range 6 {
		a, b := alloc(), alloc()
		if err := w.Views(data, SampleRNG(5, 0, int64(i)), a); err != nil {
			t.Fatal(err)
		}
		if err := w.Views(data, SampleRNG(5, 0, int64(i)), b); err != nil {
			t.Fatal(err)
		}
		for v := range a {
			if specs[v].Size != sizes[v] {
				t.Errorf("view %d size %d, want %d", v, specs[v].Size, sizes[v])
			}
			if !slices.Equal(a[v], b[v]) {
				t.Errorf("sample %d view %d differs between two draws of one stream", i, v)
			}
			n := sizes[v] * sizes[v]
			for k, x := range a[v] {
				c := k / n
				if math.IsNaN(float64(x)) || x < lo[c]-1e-4 || x > hi[c]+1e-4 {
					t.Fatalf("view %d value %v out of range", v, x)
				}
			}
		}
		// The draws of the first views are those of a pipeline without the local views.
		rng := SampleRNG(5, 0, int64(i))
		vp := make([]viewParams, len(specs))
		w.drawViews(rng, 500, 333, specs, vp)
		rng = SampleRNG(5, 0, int64(i))
		two := make([]viewParams, 2)
		w.drawViews(rng, 500, 333, specs[:2], two)
		if vp[0] != two[0] || vp[1] != two[1] {
			t.Errorf("sample %d: the global views' draws depend on the local views", i)
		}
		for v := 2; v < len(vp); v++ {
			area := float64(vp[v].cw*vp[v].ch) / (500 * 333)
			if area > 0.2*1.1 {
				t.Errorf("sample %d local view %d covers %.2f of the image, over its scale 0.2", i, v, area)
			}
		}
	}
	if err := w.Views(data, SampleRNG(5, 0, 0), alloc()[:2]); err == nil {
		t.Error("Views with too few buffers: no error")
	}
	bad := cfg
	bad.Crops = []configs.Crop{{Size: 32, Count: 0, Scale: [2]float64{0.5, 1}}}
	if _, err := New(bad, 32); err == nil {
		t.Error("a group of no views: no error")
	}
}
