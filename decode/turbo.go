//go:build cgo && !noturbojpeg

package decode

/*
#cgo LDFLAGS: -ljpeg
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>
#include <jerror.h>

// libjpeg-turbo's own API (not TurboJPEG's): it can skip the rows above a region, crop the
// columns around it and stop below it, which TurboJPEG 2.1 cannot.
#if !defined(LIBJPEG_TURBO_VERSION_NUMBER) && !defined(JCS_EXTENSIONS)
#error "natssl needs libjpeg-turbo's libjpeg (Debian: libjpeg-dev)"
#endif

typedef struct {
	struct jpeg_error_mgr pub;
	jmp_buf jb;
	char msg[JMSG_LENGTH_MAX];
} errmgr;

typedef struct {
	struct jpeg_decompress_struct d;
	errmgr e;
} decoder;

static void on_error(j_common_ptr c) {
	errmgr *e = (errmgr *)c->err;
	c->err->format_message(c, e->msg);
	longjmp(e->jb, 1);
}

// on_message stops at the first warning about damaged data: "premature end", "bad Huffman
// code" and the like leave grey or garbage, so the image counts as corrupt. Stray bytes
// between markers leave a whole image (PIL accepts these files too) and are let through.
static void on_message(j_common_ptr c, int level) {
	if (level >= 0 || c->err->msg_code == JWRN_EXTRANEOUS_DATA) {
		return;
	}
	on_error(c);
}

static decoder *dec_new(void) {
	decoder *p = calloc(1, sizeof *p);
	if (p == NULL) {
		return NULL;
	}
	p->d.err = jpeg_std_error(&p->e.pub);
	p->e.pub.error_exit = on_error;
	p->e.pub.emit_message = on_message;
	if (setjmp(p->e.jb)) {
		free(p);
		return NULL;
	}
	jpeg_create_decompress(&p->d);
	return p;
}

static void dec_free(decoder *p) {
	jpeg_destroy_decompress(&p->d);
	free(p);
}

static const char *dec_msg(decoder *p) { return p->e.msg; }

typedef struct { int rc, w, h, cs; } header;

// dec_header reads the frame header. Results come back by value so that no Go pointer to a
// local escapes to C (which would make every call allocate).
static header dec_header(decoder *p, const unsigned char *buf, unsigned long n) {
	header r = {1, 0, 0, 0};
	if (setjmp(p->e.jb)) {
		jpeg_abort_decompress(&p->d);
		return r;
	}
	jpeg_mem_src(&p->d, buf, n);
	jpeg_read_header(&p->d, TRUE);
	r.rc = 0;
	r.w = p->d.image_width;
	r.h = p->d.image_height;
	r.cs = p->d.jpeg_color_space;
	jpeg_abort_decompress(&p->d);
	return r;
}

typedef struct { int rc, x, w; } span;

// dec_region decodes the image scaled by 1/denom, the rows [y0, y1) and at least the columns
// [x0, x1), into out (rows of 3*w bytes, w <= the scaled width): the columns it decodes are
// the returned [x, x+w), widened to whole iMCUs; out has one more row, scratch for the rows
// below y1. Rows above y0 are skipped (entropy-decoded
// only); below y1 decoding stops when the data ends with an EOI marker, and otherwise goes on
// to the end so that a truncated file is still reported.
static span dec_region(decoder *p, const unsigned char *buf, unsigned long n, int denom,
		int x0, int y0, int x1, int y1, unsigned char *out) {
	span r = {1, 0, 0};
	if (setjmp(p->e.jb)) {
		jpeg_abort_decompress(&p->d);
		return r;
	}
	struct jpeg_decompress_struct *d = &p->d;
	jpeg_mem_src(d, buf, n);
	jpeg_read_header(d, TRUE);
	d->out_color_space = JCS_RGB;
	d->scale_num = 1;
	d->scale_denom = denom;
	jpeg_start_decompress(d);
	JDIMENSION xoff = x0, w = x1 - x0;
	if (w < (int)d->output_width) {
		jpeg_crop_scanline(d, &xoff, &w);
	}
	if (y0 > 0) {
		jpeg_skip_scanlines(d, y0);
	}
	size_t stride = 3 * (size_t)w;
	while ((int)d->output_scanline < y1) {
		JSAMPROW rows[8];
		int k, m = y1 - (int)d->output_scanline;
		if (m > 8) {
			m = 8;
		}
		for (k = 0; k < m; k++) {
			rows[k] = out + (size_t)(d->output_scanline - y0 + k) * stride;
		}
		jpeg_read_scanlines(d, rows, m);
	}
	int eoi = 0;
	for (unsigned long i = n; i >= 2 && i + 4096 >= n; i--) {
		if (buf[i - 2] == 0xFF && buf[i - 1] == 0xD9) {
			eoi = 1;
			break;
		}
	}
	if ((int)d->output_scanline < (int)d->output_height && eoi) {
		jpeg_abort_decompress(d);
	} else {
		// jpeg_skip_scanlines to the end would not read the data, so decode the rest.
		JSAMPROW row = out + (size_t)(y1 - y0) * stride;
		while (d->output_scanline < d->output_height) {
			jpeg_read_scanlines(d, &row, 1);
		}
		jpeg_finish_decompress(d);
	}
	r.rc = 0;
	r.x = xoff;
	r.w = w;
	return r;
}
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
