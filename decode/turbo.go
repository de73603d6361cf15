//go:build cgo && !noturbojpeg

package decode

/*
#cgo LDFLAGS: -lturbojpeg
#include <stdlib.h>
#include <turbojpeg.h>

typedef struct { int rc, w, h, cs; } header;

// readHeader returns the header by value so that no Go pointer to a local escapes to C
// (which would make every call allocate).
static header readHeader(tjhandle h, const unsigned char *buf, unsigned long n) {
	header r;
	int sub;
	r.rc = tjDecompressHeader3(h, buf, n, &r.w, &r.h, &sub, &r.cs);
	return r;
}
*/
import "C"

import (
	"fmt"
	"strings"
	"unsafe"
)

// Backend names the decoder compiled into this build.
const Backend = "libjpeg-turbo"

// Decoder decodes images, JPEGs through one TurboJPEG handle. It is not safe for concurrent
// use: give each goroutine its own and Close it when done.
type Decoder struct {
	h       C.tjhandle
	scratch Image // full-size pixels for the standard-library path when scaling
}

// NewDecoder returns a decoder; its TurboJPEG handle is created on first use.
func NewDecoder() *Decoder { return &Decoder{} }

// Close frees the TurboJPEG handle. The decoder may be used again afterwards.
func (d *Decoder) Close() {
	if d.h != nil {
		C.tjDestroy(d.h)
		d.h = nil
	}
	d.scratch = Image{}
}

func (d *Decoder) handle() (C.tjhandle, error) {
	if d.h == nil {
		d.h = C.tjInitDecompress()
		if d.h == nil {
			return nil, fmt.Errorf("decode: init libjpeg-turbo: %s", C.GoString(C.tjGetErrorStr2(nil)))
		}
	}
	return d.h, nil
}

// jpegHeader reads a JPEG's size and colour space.
func (d *Decoder) jpegHeader(data []byte) (w, h int, cs C.int, err error) {
	th, err := d.handle()
	if err != nil {
		return 0, 0, 0, err
	}
	r := C.readHeader(th, (*C.uchar)(unsafe.Pointer(&data[0])), C.ulong(len(data)))
	if r.rc != 0 && !harmlessWarning(th) {
		return 0, 0, 0, fmt.Errorf("decode: jpeg header: %s: %w", C.GoString(C.tjGetErrorStr2(th)), ErrCorrupt)
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
	if cs == C.TJCS_CMYK || cs == C.TJCS_YCCK { // TurboJPEG cannot convert these to RGB
		return stdDecode(data, scaleDenom, dst, &d.scratch)
	}
	sw, sh := ScaledSize(w, h, scaleDenom)
	dst.setSize(sw, sh)
	th := d.h
	if C.tjDecompress2(th, (*C.uchar)(unsafe.Pointer(&data[0])), C.ulong(len(data)),
		(*C.uchar)(unsafe.Pointer(&dst.Pix[0])), C.int(sw), C.int(3*sw), C.int(sh),
		C.TJPF_RGB, 0) != 0 {
		if harmlessWarning(th) {
			return nil
		}
		return fmt.Errorf("decode: jpeg: %s: %w", C.GoString(C.tjGetErrorStr2(th)), ErrCorrupt)
	}
	return nil
}

// harmlessWarning reports whether the last failure was only libjpeg's warning about stray
// bytes between markers, which leaves a whole image (PIL accepts these files too). Other
// warnings (a premature end, bad Huffman data) leave grey or garbage and count as corrupt.
func harmlessWarning(th C.tjhandle) bool {
	return C.tjGetErrorCode(th) == C.TJERR_WARNING &&
		strings.Contains(C.GoString(C.tjGetErrorStr2(th)), "extraneous bytes")
}
