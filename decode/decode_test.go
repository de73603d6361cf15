package decode

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeSizes(t *testing.T) {
	tests := []struct {
		file string
		w, h int
	}{
		{"rgb.jpg", 160, 120},
		{"progressive.jpg", 160, 120},
		{"odd_size.jpg", 161, 123},
		{"gray.jpg", 160, 120},
		{"cmyk.jpg", 160, 120},
		{"fmnist_gray.jpg", 28, 28},
		{"rgb.png", 40, 30},
		{"rgba.png", 40, 30},
		{"gray.png", 40, 30},
		{"paletted.gif", 40, 30},
		{"extraneous.jpg", 160, 120}, // stray bytes before EOI: a libjpeg warning, a whole image
	}
	d := NewDecoder()
	defer d.Close()
	for _, tt := range tests {
		data := readFixture(t, tt.file)
		t.Run(tt.file, func(t *testing.T) {
			w, h, err := d.Config(data)
			if err != nil || w != tt.w || h != tt.h {
				t.Fatalf("Config = %d, %d, %v; want %d, %d, nil", w, h, err, tt.w, tt.h)
			}
			for _, denom := range []int{1, 2, 4} {
				var m Image
				if err := d.Decode(data, denom, &m); err != nil {
					t.Fatalf("Decode(1/%d): %v", denom, err)
				}
				ww, wh := ScaledSize(tt.w, tt.h, denom)
				if m.W != ww || m.H != wh || len(m.Pix) != 3*ww*wh {
					t.Errorf("Decode(1/%d) = %dx%d with %d bytes; want %dx%d with %d", denom, m.W, m.H, len(m.Pix), ww, wh, 3*ww*wh)
				}
			}
		})
	}
}

// TestDecodeMatchesStdlib checks the pixels against image/jpeg and image/png: the decoders
// differ in their IDCT and upsampling, so JPEGs agree to within a few levels on average.
func TestDecodeMatchesStdlib(t *testing.T) {
	tests := []struct {
		file    string
		maxMean float64 // mean absolute difference per channel, 0–255
	}{
		// image/jpeg upsamples chroma by replication, libjpeg-turbo by interpolation.
		{"rgb.jpg", 4},
		{"progressive.jpg", 4},
		{"gray.jpg", 1},
		{"cmyk.jpg", 2},
		{"rgb.png", 0},
		{"rgba.png", 0},
		{"gray.png", 0},
		{"paletted.gif", 0},
	}
	d := NewDecoder()
	defer d.Close()
	for _, tt := range tests {
		data := readFixture(t, tt.file)
		t.Run(tt.file, func(t *testing.T) {
			var got Image
			if err := d.Decode(data, 1, &got); err != nil {
				t.Fatal(err)
			}
			ref, _, err := image.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			var sum float64
			for y := 0; y < got.H; y++ {
				for x := 0; x < got.W; x++ {
					c := color.NRGBAModel.Convert(ref.At(x, y)).(color.NRGBA)
					o := 3 * (y*got.W + x)
					sum += absDiff(got.Pix[o], c.R) + absDiff(got.Pix[o+1], c.G) + absDiff(got.Pix[o+2], c.B)
				}
			}
			if mean := sum / float64(len(got.Pix)); mean > tt.maxMean {
				t.Errorf("mean |decode - stdlib| = %.3f; want <= %.3f", mean, tt.maxMean)
			}
		})
	}
}

// TestDecodeMatchesPIL compares with PNGs that PIL (which also uses libjpeg-turbo) wrote
// from the same JPEGs: the libjpeg-turbo build must agree exactly, the pure-Go one closely.
func TestDecodeMatchesPIL(t *testing.T) {
	d := NewDecoder()
	defer d.Close()
	for _, file := range []string{"rgb.jpg", "progressive.jpg"} {
		t.Run(file, func(t *testing.T) {
			var got, want Image
			if err := d.Decode(readFixture(t, file), 1, &got); err != nil {
				t.Fatal(err)
			}
			if err := d.Decode(readFixture(t, file+".pil.png"), 1, &want); err != nil {
				t.Fatal(err)
			}
			var sum, worst float64
			for i := range got.Pix {
				a := absDiff(got.Pix[i], want.Pix[i])
				sum += a
				worst = max(worst, a)
			}
			mean := sum / float64(len(got.Pix))
			if Backend == "libjpeg-turbo" && worst != 0 {
				t.Errorf("max |decode - PIL| = %v; want 0 (mean %.3f)", worst, mean)
			}
			if mean > 4 {
				t.Errorf("mean |decode - PIL| = %.3f; want <= 4", mean)
			}
		})
	}
}

func absDiff(a, b uint8) float64 {
	if a > b {
		return float64(a - b)
	}
	return float64(b - a)
}

// TestExtraneousBytes: stray bytes before a marker make libjpeg warn, but the image is whole
// and must decode to the same pixels as without them.
func TestExtraneousBytes(t *testing.T) {
	d := NewDecoder()
	defer d.Close()
	var got, want Image
	if err := d.Decode(readFixture(t, "extraneous.jpg"), 1, &got); err != nil {
		t.Fatal(err)
	}
	if err := d.Decode(readFixture(t, "rgb.jpg"), 1, &want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Pix, want.Pix) {
		t.Error("extraneous.jpg decodes to other pixels than rgb.jpg")
	}
}

func TestGrayIsReplicated(t *testing.T) {
	for _, file := range []string{"gray.jpg", "fmnist_gray.jpg", "gray.png"} {
		t.Run(file, func(t *testing.T) {
			d := NewDecoder()
			defer d.Close()
			var m Image
			if err := d.Decode(readFixture(t, file), 1, &m); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < len(m.Pix); i += 3 {
				if m.Pix[i] != m.Pix[i+1] || m.Pix[i] != m.Pix[i+2] {
					t.Fatalf("pixel %d = %v: channels differ", i/3, m.Pix[i:i+3])
				}
			}
		})
	}
}

// TestScaledDecodeIsDownscale checks that 1/2 and 1/4 decodes look like the full image
// averaged over blocks.
func TestScaledDecodeIsDownscale(t *testing.T) {
	d := NewDecoder()
	defer d.Close()
	for _, file := range []string{"rgb.jpg", "odd_size.jpg", "rgb.png"} {
		data := readFixture(t, file)
		var full Image
		if err := d.Decode(data, 1, &full); err != nil {
			t.Fatal(err)
		}
		for _, denom := range []int{2, 4} {
			t.Run(file+"/"+string(rune('0'+denom)), func(t *testing.T) {
				var got, want Image
				if err := d.Decode(data, denom, &got); err != nil {
					t.Fatal(err)
				}
				boxDown(&full, denom, &want)
				var sum float64
				for i := range got.Pix {
					sum += absDiff(got.Pix[i], want.Pix[i])
				}
				if mean := sum / float64(len(got.Pix)); mean > 3 {
					t.Errorf("mean |1/%d decode - box average| = %.2f; want <= 3", denom, mean)
				}
			})
		}
	}
}

func TestBadInputIsCorrupt(t *testing.T) {
	huge := func() []byte { // a valid PNG header claiming 100000×100000 pixels
		var b bytes.Buffer
		png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1)))
		p := b.Bytes()
		copy(p[16:24], []byte{0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0})
		return p
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", readFixture(t, "empty.jpg")},
		{"nil", nil},
		{"text", readFixture(t, "text.jpg")},
		{"truncated jpeg", readFixture(t, "truncated.jpg")},
		{"garbage after jpeg header", readFixture(t, "garbage.jpg")},
		{"truncated png", readFixture(t, "truncated.png")},
		{"soi only", []byte{0xFF, 0xD8, 0xFF}},
		{"huge png header", huge()},
	}
	d := NewDecoder()
	defer d.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Image
			if err := d.Decode(tt.data, 1, &m); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Decode error = %v; want one wrapping ErrCorrupt", err)
			}
		})
	}
}

func TestBadScale(t *testing.T) {
	d := NewDecoder()
	defer d.Close()
	var m Image
	for _, denom := range []int{0, 3, 8, -1} {
		if err := d.Decode(readFixture(t, "rgb.jpg"), denom, &m); err == nil {
			t.Errorf("Decode with scale 1/%d: no error", denom)
		}
	}
}

func TestDecodeReusesMemory(t *testing.T) {
	d := NewDecoder()
	defer d.Close()
	var m Image
	data := readFixture(t, "rgb.jpg")
	if err := d.Decode(data, 1, &m); err != nil {
		t.Fatal(err)
	}
	p := &m.Pix[0]
	if err := d.Decode(readFixture(t, "fmnist_gray.jpg"), 1, &m); err != nil {
		t.Fatal(err)
	}
	if &m.Pix[0] != p {
		t.Error("a smaller image did not reuse dst.Pix")
	}
	if n := testing.AllocsPerRun(10, func() { d.Decode(data, 2, &m) }); Backend == "libjpeg-turbo" && n > 0 {
		t.Errorf("Decode allocates %.0f times per call; want 0", n)
	}
}
