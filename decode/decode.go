package decode

import (
	"errors"
	"fmt"
)

// Image is a packed RGB image, or a region of one: 3 bytes per pixel, rows of 3*W bytes, no
// padding, the first pixel at (X, Y) of the whole image (0, 0 unless DecodeRegion decoded a
// part). Grayscale sources are replicated into the three channels.
type Image struct {
	X, Y int
	W, H int
	Pix  []uint8
}

// ErrCorrupt is wrapped by every error about input that cannot be decoded.
var ErrCorrupt = errors.New("decode: corrupt or unsupported image")

// MaxPixels bounds the decoded size (before scaling) so that a hostile header cannot make
// the decoder allocate gigabytes; larger images are reported as corrupt.
const MaxPixels = 80 << 20

// ScaledSize returns the size of an image of w×h pixels decoded with scaleDenom, rounding up
// as libjpeg's DCT scaling does.
func ScaledSize(w, h, scaleDenom int) (sw, sh int) {
	return (w + scaleDenom - 1) / scaleDenom, (h + scaleDenom - 1) / scaleDenom
}

// setSize makes dst a w×h image, reusing its pixel memory when it is large enough.
func (dst *Image) setSize(w, h int) {
	n := 3 * w * h
	if cap(dst.Pix) < n {
		dst.Pix = make([]uint8, n)
	}
	dst.Pix = dst.Pix[:n]
	dst.X, dst.Y, dst.W, dst.H = 0, 0, w, h
}

func checkScale(scaleDenom int) error {
	switch scaleDenom {
	case 1, 2, 4:
		return nil
	}
	return fmt.Errorf("decode: scale denominator %d: want 1, 2 or 4", scaleDenom)
}

func checkSize(w, h int) error {
	if w <= 0 || h <= 0 || int64(w)*int64(h) > MaxPixels {
		return fmt.Errorf("decode: image size %dx%d: %w", w, h, ErrCorrupt)
	}
	return nil
}

// isJPEG reports whether data starts with a JPEG SOI marker followed by another marker.
func isJPEG(data []byte) bool {
	return len(data) >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF
}
