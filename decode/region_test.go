package decode

import (
	"errors"
	"fmt"
	"image"
	"math/rand/v2"
	"testing"
)

// TestDecodeRegionMatchesDecode: every pixel of a region decode is the pixel a whole decode
// gives, for random regions of every chroma subsampling, progressive and gray files, odd sizes
// and every scale — skipping rows, cropping columns and stopping early change no value.
func TestDecodeRegionMatchesDecode(t *testing.T) {
	files := []string{"rgb.jpg", "odd_size.jpg", "progressive.jpg", "gray.jpg", "extraneous.jpg",
		"photo444.jpg", "photo422.jpg", "photo420p.jpg", "cmyk.jpg", "rgb.png"}
	d := NewDecoder()
	defer d.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, file := range files {
		data := readFixture(t, file)
		for _, denom := range []int{1, 2, 4} {
			t.Run(fmt.Sprintf("%s/%d", file, denom), func(t *testing.T) {
				var full, part Image
				if err := d.Decode(data, denom, &full); err != nil {
					t.Fatal(err)
				}
				for range 40 {
					x0, y0 := rng.IntN(full.W), rng.IntN(full.H)
					r := image.Rect(x0, y0, x0+1+rng.IntN(full.W-x0), y0+1+rng.IntN(full.H-y0))
					if err := d.DecodeRegion(data, denom, r, &part); err != nil {
						t.Fatalf("DecodeRegion(%v): %v", r, err)
					}
					got := image.Rect(part.X, part.Y, part.X+part.W, part.Y+part.H)
					if !r.In(got) || !got.In(image.Rect(0, 0, full.W, full.H)) || len(part.Pix) != 3*part.W*part.H {
						t.Fatalf("DecodeRegion(%v) holds %v (%d bytes) of a %dx%d image", r, got, len(part.Pix), full.W, full.H)
					}
					for y := r.Min.Y; y < r.Max.Y; y++ {
						for x := r.Min.X; x < r.Max.X; x++ {
							i := 3 * ((y-part.Y)*part.W + x - part.X)
							j := 3 * (y*full.W + x)
							if [3]uint8(part.Pix[i:i+3]) != [3]uint8(full.Pix[j:j+3]) {
								t.Fatalf("DecodeRegion(%v): pixel (%d, %d) = %v; whole decode %v", r, x, y, part.Pix[i:i+3], full.Pix[j:j+3])
							}
						}
					}
				}
			})
		}
	}
}

// TestDecodeRegionSavesWork: a region decode of a JPEG decodes less than the whole image
// (the pure-Go build, which has no region decoding, gives the whole image).
func TestDecodeRegionSavesWork(t *testing.T) {
	d := NewDecoder()
	defer d.Close()
	var m Image
	if err := d.DecodeRegion(readFixture(t, "photo444.jpg"), 1, image.Rect(100, 60, 120, 80), &m); err != nil {
		t.Fatal(err)
	}
	part := m.W < 203 && m.H < 157 && m.X > 0 && m.Y > 0
	if whole := m.W == 203 && m.H == 157 && m.X == 0 && m.Y == 0; Backend == "libjpeg-turbo" && !part || Backend != "libjpeg-turbo" && !whole {
		t.Errorf("%s: region decode holds %dx%d at (%d, %d) of a 203x157 image", Backend, m.W, m.H, m.X, m.Y)
	}
}

// TestDecodeRegionTruncated: a file cut short is corrupt even when the region lies above the
// cut, so that whether an image counts as bad does not depend on where a view was cropped.
func TestDecodeRegionTruncated(t *testing.T) {
	data := readFixture(t, "photo444.jpg")
	d := NewDecoder()
	defer d.Close()
	for _, keep := range []int{len(data) - 2, len(data) * 3 / 4, len(data) / 2} {
		var m Image
		err := d.DecodeRegion(data[:keep], 1, image.Rect(0, 0, 50, 20), &m)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("region at the top of a file cut to %d of %d bytes: error %v; want ErrCorrupt", keep, len(data), err)
		}
	}
}
