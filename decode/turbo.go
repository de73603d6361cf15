//go:build cgo && !noturbojpeg

package decode

/*
#cgo CFLAGS: -Wall -Wextra
#cgo LDFLAGS: -ljpeg
#include "turbo.h"
*/
import "C"

import (
	"fmt"
	"image"
	"unsafe"
)

// Backend names the decoder compiled into this build.
const Backend = "libjpeg-turbo"

// Decoder decodes images, JPEGs through one libjpeg-turbo decompressor. It is not safe for
// concurrent use: give each goroutine its own and Close it when done.
type Decoder struct {
	p       *C.decoder
	scratch Image // full-size pixels for the standard-library path when scaling
}

// NewDecoder returns a decoder; its libjpeg state is created on first use.
func NewDecoder() *Decoder { return &Decoder{} }

// Close frees the libjpeg state. The decoder may be used again afterwards.
func (d *Decoder) Close() {
	if d.p != nil {
		C.dec_free(d.p)
		d.p = nil
	}
	d.scratch = Image{}
}

func (d *Decoder) state() (*C.decoder, error) {
	if d.p == nil {
		d.p = C.dec_new()
		if d.p == nil {
			return nil, fmt.Errorf("decode: init libjpeg-turbo: out of memory")
		}
	}
	return d.p, nil
}

// jpegHeader reads a JPEG's size and colour space.
func (d *Decoder) jpegHeader(data []byte) (w, h int, cs C.int, err error) {
	p, err := d.state()
	if err != nil {
		return 0, 0, 0, err
	}
	r := C.dec_header(p, (*C.uchar)(unsafe.Pointer(&data[0])), C.ulong(len(data)))
	if r.rc != 0 {
		return 0, 0, 0, fmt.Errorf("decode: jpeg header: %s: %w", C.GoString(C.dec_msg(p)), ErrCorrupt)
	}
	if err := checkSize(int(r.w), int(r.h)); err != nil {
		return 0, 0, 0, err
	}
	return int(r.w), int(r.h), r.cs, nil
}

// Config returns the image's size from its header, without decoding pixels.
func (d *Decoder) Config(data []byte) (w, h int, err error) {
	if !isJPEG(data) {
		return stdConfig(data)
	}
	w, h, _, err = d.jpegHeader(data)
	return w, h, err
}

// Decode decodes data into dst (whose memory is reused), downscaled by scaleDenom (1, 2 or 4);
// dst gets ScaledSize(w, h, scaleDenom) pixels. JPEGs are scaled in the DCT domain, other
// formats by averaging blocks.
func (d *Decoder) Decode(data []byte, scaleDenom int, dst *Image) error {
	return d.DecodeRegion(data, scaleDenom, image.Rect(0, 0, MaxPixels, MaxPixels), dst)
}

// DecodeRegion is Decode for the pixels of r (in the scaled image's coordinates, clipped to
// it) only: dst gets at least that region, dst.X and dst.Y saying where its first pixel lies.
// JPEGs skip the work of the rows above r and stop below it, and decode only the iMCU columns
// that cover r (with one iMCU to spare on each side, so that chroma upsampling sees the same
// neighbours as in a whole decode and the pixels are exactly those of Decode); other formats
// are decoded whole.
func (d *Decoder) DecodeRegion(data []byte, scaleDenom int, r image.Rectangle, dst *Image) error {
	if err := checkScale(scaleDenom); err != nil {
		return err
	}
	if !isJPEG(data) {
		return stdDecode(data, scaleDenom, dst, &d.scratch)
	}
	w, h, cs, err := d.jpegHeader(data)
	if err != nil {
		return err
	}
	if cs == C.JCS_CMYK || cs == C.JCS_YCCK { // libjpeg cannot convert these to RGB
		return stdDecode(data, scaleDenom, dst, &d.scratch)
	}
	sw, sh := ScaledSize(w, h, scaleDenom)
	r = r.Intersect(image.Rect(0, 0, sw, sh))
	if r.Empty() {
		r = image.Rect(0, 0, sw, sh)
	}
	r = image.Rect(max(r.Min.X-regionMargin, 0), max(r.Min.Y-regionMargin, 0),
		min(r.Max.X+regionMargin, sw), min(r.Max.Y+regionMargin, sh))
	// Room for the widest the crop can come back (the whole row), so that C fills memory Go
	// has already sized.
	dst.setSize(sw, r.Dy()+1)
	s := C.dec_region(d.p, (*C.uchar)(unsafe.Pointer(&data[0])), C.ulong(len(data)), C.int(scaleDenom),
		C.int(r.Min.X), C.int(r.Min.Y), C.int(r.Max.X), C.int(r.Max.Y), (*C.uchar)(unsafe.Pointer(&dst.Pix[0])))
	if s.rc != 0 {
		return fmt.Errorf("decode: jpeg: %s: %w", C.GoString(C.dec_msg(d.p)), ErrCorrupt)
	}
	dst.X, dst.Y, dst.W, dst.H = int(s.x), r.Min.Y, int(s.w), r.Dy()
	dst.Pix = dst.Pix[:3*dst.W*dst.H]
	return nil
}

// regionMargin is how far (in scaled pixels) DecodeRegion widens a region on every side: at
// least one iMCU (16 source pixels for 4:2:0, fewer when scaled) for the context rows and
// columns of fancy upsampling.
const regionMargin = 16
