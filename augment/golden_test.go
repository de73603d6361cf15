package augment

import (
	"bytes"
	"flag"
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

var update = flag.Bool("update", false, "rewrite the golden images in testdata/golden (golden-purego for the noturbojpeg build)")

// goldenDir: the two decoders differ by a few levels (chroma upsampling), so each build has
// its own golden images.
var goldenDir = map[bool]string{true: "golden", false: "golden-purego"}[decode.Backend == "libjpeg-turbo"]

// toImage lays out views side by side as an 8-bit image, undoing the normalisation.
func toImage(views [][]float32, size int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, size*len(views), size))
	n := size * size
	for k, v := range views {
		for i := range n {
			o := m.PixOffset(k*size+i%size, i/size)
			for c := range 3 {
				x := 255 * (v[c*n+i]*Std[c] + Mean[c])
				m.Pix[o+c] = uint8(math.Round(min(max(float64(x), 0), 255)))
			}
			m.Pix[o+3] = 255
		}
	}
	return m
}

// TestGolden pins the views of the fixtures for fixed seeds. Regenerate with
// go test ./augment -run Golden -update after an intended change, and look at the images.
func TestGolden(t *testing.T) {
	for _, file := range fixtures {
		for _, size := range []int{32, 96} {
			name := fmt.Sprintf("%s_%d.png", strings.TrimSuffix(file, ".jpg"), size)
			t.Run(name, func(t *testing.T) {
				w := newWorker(t, simclr(), size)
				var views [][]float32
				for i := range 3 {
					v1, v2 := make([]float32, 3*size*size), make([]float32, 3*size*size)
					if err := w.TwoViews(fixture(t, file), SampleRNG(42, 0, int64(i)), v1, v2); err != nil {
						t.Fatal(err)
					}
					views = append(views, v1, v2)
				}
				got := toImage(views, size)
				path := filepath.Join("testdata", goldenDir, name)
				if *update {
					var b bytes.Buffer
					if err := png.Encode(&b, got); err != nil {
						t.Fatal(err)
					}
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				f, err := os.Open(path)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				defer f.Close()
				want, err := png.Decode(f)
				if err != nil {
					t.Fatal(err)
				}
				wn, ok := want.(*image.RGBA) // opaque PNGs decode as RGBA
				if !ok || wn.Rect != got.Rect {
					t.Fatalf("golden %s is %T %v; want RGBA %v", path, want, want.Bounds(), got.Rect)
				}
				// Rounding of float sums may move a value across .5 on another CPU: allow one level.
				for i := range got.Pix {
					if d := int(got.Pix[i]) - int(wn.Pix[i]); d > 1 || d < -1 {
						t.Fatalf("byte %d = %d; golden %d", i, got.Pix[i], wn.Pix[i])
					}
				}
			})
		}
	}
}
