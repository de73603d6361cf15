package augment

import (
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natssl/natssl/decode"
)

// TestEvalViewMatchesTorchvision compares with torchvision's Resize(S) + CenterCrop(S) on PIL
// images (testdata/eval/make.py). PIL rounds to 8 bits after each pass and the larger sizes
// decode at 1/2 or 1/4 here, so they agree within one level on average, not exactly. The
// pure-Go build's decoder upsamples chroma differently from PIL's libjpeg-turbo: two levels.
func TestEvalViewMatchesTorchvision(t *testing.T) {
	tol := 1.0
	if decode.Backend != "libjpeg-turbo" {
		tol = 2
	}
	w := newWorker(t, simclr(), 32)
	for _, file := range fixtures {
		for _, size := range []int{24, 64, 96, 224} {
			name := fmt.Sprintf("%s_%d.png", strings.TrimSuffix(file, ".jpg"), size)
			t.Run(name, func(t *testing.T) {
				got := make([]float32, 3*size*size)
				if err := w.EvalView(fixture(t, file), size, got); err != nil {
					t.Fatal(err)
				}
				f, err := os.Open(filepath.Join("testdata", "eval", name))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				ref, err := png.Decode(f)
				if err != nil {
					t.Fatal(err)
				}
				m, ok := ref.(*image.RGBA)
				if !ok || m.Rect.Dx() != size || m.Rect.Dy() != size {
					t.Fatalf("reference is %T %v", ref, ref.Bounds())
				}
				n := size * size
				var sum float64
				for i := range n {
					for c := range 3 {
						x := 255 * float64(got[c*n+i]*Std[c]+Mean[c])
						sum += math.Abs(x - float64(m.Pix[4*i+c]))
					}
				}
				if mean := sum / float64(3*n); mean > tol {
					t.Errorf("mean |EvalView - torchvision| = %.3f/255; want <= %v", mean, tol)
				} else {
					t.Logf("mean |EvalView - torchvision| = %.3f/255", mean)
				}
			})
		}
	}
}
