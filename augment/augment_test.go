package augment

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/decode"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// simclr is SimCLR's full recipe, every operation switched on some of the time.
func simclr() configs.Augment {
	return configs.Augment{
		CropScale: [2]float64{0.08, 1}, CropRatio: [2]float64{3.0 / 4, 4.0 / 3}, FlipP: 0.5,
		Jitter:     configs.Jitter{Brightness: 0.8, Contrast: 0.8, Saturation: 0.8, Hue: 0.2, P: 0.8},
		GrayscaleP: 0.2, Blur: configs.Blur{P: 0.5, Sigma: [2]float64{0.1, 2}}, SolarizeP: 0.2,
	}
}

func newWorker(t testing.TB, cfg configs.Augment, size int) *Worker {
	t.Helper()
	p, err := New(cfg, size)
	if err != nil {
		t.Fatal(err)
	}
	w := p.NewWorker()
	t.Cleanup(w.Close)
	return w
}

var fixtures = []string{"fmnist_shirt.jpg", "nature_small.jpg", "photo500.jpg"}

// lo and hi bound every normalised value: 0 and 255 through the normalisation.
func bounds() (lo, hi [3]float32) {
	for c := range 3 {
		lo[c] = -Mean[c] / Std[c]
		hi[c] = (1 - Mean[c]) / Std[c]
	}
	return lo, hi
}

func TestTwoViewsShapeAndRange(t *testing.T) {
	lo, hi := bounds()
	for _, size := range []int{1, 7, 32, 96, 224} {
		w := newWorker(t, simclr(), size)
		for _, file := range fixtures {
			data := fixture(t, file)
			n := size * size
			for i := range 20 {
				v1, v2 := make([]float32, 3*n), make([]float32, 3*n)
				if err := w.TwoViews(data, SampleRNG(1, 0, int64(i)), v1, v2); err != nil {
					t.Fatalf("%s at %d: %v", file, size, err)
				}
				for _, v := range [][]float32{v1, v2} {
					for j, x := range v {
						c := j / n
						if !(x >= lo[c]-1e-4 && x <= hi[c]+1e-4) {
							t.Fatalf("%s at %d, sample %d: value %d (channel %d) = %v outside [%v, %v]", file, size, i, j, c, x, lo[c], hi[c])
						}
					}
				}
			}
		}
	}
}

func TestSameRNGSameBytes(t *testing.T) {
	w1 := newWorker(t, simclr(), 64)
	w2 := newWorker(t, simclr(), 64)
	n := 3 * 64 * 64
	for _, file := range fixtures {
		data := fixture(t, file)
		for i := range 10 {
			a1, a2 := make([]float32, n), make([]float32, n)
			b1, b2 := make([]float32, n), make([]float32, n)
			if err := w1.TwoViews(data, SampleRNG(7, 3, int64(i)), a1, a2); err != nil {
				t.Fatal(err)
			}
			// A second worker that has seen other images first must agree bit for bit.
			w2.TwoViews(fixture(t, fixtures[(i+1)%len(fixtures)]), SampleRNG(9, 9, 9), b1, b2)
			if err := w2.TwoViews(data, SampleRNG(7, 3, int64(i)), b1, b2); err != nil {
				t.Fatal(err)
			}
			for j := range a1 {
				if math.Float32bits(a1[j]) != math.Float32bits(b1[j]) || math.Float32bits(a2[j]) != math.Float32bits(b2[j]) {
					t.Fatalf("%s sample %d: views differ at %d", file, i, j)
				}
			}
		}
	}
}

func TestViewsDiffer(t *testing.T) {
	w := newWorker(t, simclr(), 32)
	data := fixture(t, "photo500.jpg")
	v1, v2 := make([]float32, 3*32*32), make([]float32, 3*32*32)
	if err := w.TwoViews(data, SampleRNG(1, 0, 0), v1, v2); err != nil {
		t.Fatal(err)
	}
	same := 0
	for i := range v1 {
		if v1[i] == v2[i] {
			same++
		}
	}
	if same > len(v1)/2 {
		t.Errorf("the two views share %d of %d values", same, len(v1))
	}
}

func TestCorruptInput(t *testing.T) {
	w := newWorker(t, simclr(), 32)
	good := fixture(t, "photo500.jpg")
	v1, v2 := make([]float32, 3*32*32), make([]float32, 3*32*32)
	for name, data := range map[string][]byte{
		"empty": nil, "text": []byte("hello"), "truncated": good[:len(good)/2], "header only": good[:300],
	} {
		if err := w.TwoViews(data, SampleRNG(1, 0, 0), v1, v2); !errors.Is(err, decode.ErrCorrupt) {
			t.Errorf("TwoViews(%s) error = %v; want one wrapping decode.ErrCorrupt", name, err)
		}
		if err := w.EvalView(data, 32, v1); !errors.Is(err, decode.ErrCorrupt) {
			t.Errorf("EvalView(%s) error = %v; want one wrapping decode.ErrCorrupt", name, err)
		}
	}
	if err := w.TwoViews(good, SampleRNG(1, 0, 0), v1[:10], v2); err == nil {
		t.Error("TwoViews with a short buffer: no error")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		edit func(*configs.Augment)
		size int
	}{
		{"zero size", func(*configs.Augment) {}, 0},
		{"scale above 1", func(c *configs.Augment) { c.CropScale = [2]float64{0.5, 1.5} }, 32},
		{"scale reversed", func(c *configs.Augment) { c.CropScale = [2]float64{0.9, 0.5} }, 32},
		{"ratio zero", func(c *configs.Augment) { c.CropRatio = [2]float64{0, 1} }, 32},
		{"flip p", func(c *configs.Augment) { c.FlipP = 2 }, 32},
		{"jitter p NaN", func(c *configs.Augment) { c.Jitter.P = math.NaN() }, 32},
		{"negative brightness", func(c *configs.Augment) { c.Jitter.Brightness = -1 }, 32},
		{"hue", func(c *configs.Augment) { c.Jitter.Hue = 0.7 }, 32},
		{"sigma", func(c *configs.Augment) { c.Blur.Sigma = [2]float64{0, 1} }, 32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := simclr()
			tt.edit(&c)
			if _, err := New(c, tt.size); err == nil {
				t.Error("New: no error")
			}
		})
	}
	if _, err := New(configs.Default().Augment, 96); err != nil {
		t.Errorf("New(default config): %v", err)
	}
}
