package decode

import (
	"errors"
	"image"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds mutated fixtures to Config, Decode and DecodeRegion: they must either
// succeed with a consistent image or fail with ErrCorrupt, and never panic.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(1), uint16(3), uint16(5))
	}
	d := NewDecoder()
	f.Cleanup(d.Close)
	var m Image
	f.Fuzz(func(t *testing.T, data []byte, scale uint8, x, y uint16) {
		denom := []int{1, 2, 4}[int(scale)%3]
		w, h, cerr := d.Config(data)
		err := d.Decode(data, denom, &m)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if cerr != nil {
			t.Fatalf("Decode succeeded where Config failed: %v", cerr)
		}
		sw, sh := ScaledSize(w, h, denom)
		if m.W != sw || m.H != sh || len(m.Pix) != 3*sw*sh {
			t.Fatalf("decoded %dx%d (%d bytes); header says %dx%d at 1/%d", m.W, m.H, len(m.Pix), w, h, denom)
		}
		r := image.Rect(int(x)%sw, int(y)%sh, int(x)%sw+1+int(x/7)%sw, int(y)%sh+1+int(y/7)%sh)
		if err := d.DecodeRegion(data, denom, r, &m); err != nil {
			t.Fatalf("Decode succeeded, DecodeRegion(%v) failed: %v", r, err)
		}
		got := image.Rect(m.X, m.Y, m.X+m.W, m.Y+m.H)
		if !r.Intersect(image.Rect(0, 0, sw, sh)).In(got) || len(m.Pix) != 3*m.W*m.H {
			t.Fatalf("DecodeRegion(%v) of a %dx%d image holds %v (%d bytes)", r, sw, sh, got, len(m.Pix))
		}
	})
}
