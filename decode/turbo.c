//go:build cgo && !noturbojpeg

// The JPEG decoder over libjpeg-turbo's libjpeg API: see turbo.h.

#include <stdlib.h>
#include <string.h>
#include <jerror.h>

#include "turbo.h"

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

// create runs jpeg_create_decompress under its own setjmp, so that no local of dec_new's lives
// across the longjmp: 0 on success.
static int create(decoder *p) {
	if (setjmp(p->e.jb)) {
		return -1;
	}
	jpeg_create_decompress(&p->d);
	return 0;
}

decoder *dec_new(void) {
	decoder *p = calloc(1, sizeof *p);
	if (p == NULL) {
		return NULL;
	}
	p->d.err = jpeg_std_error(&p->e.pub);
	p->e.pub.error_exit = on_error;
	p->e.pub.emit_message = on_message;
	if (create(p) != 0) {
		free(p);
		return NULL;
	}
	return p;
}

void dec_free(decoder *p) {
	jpeg_destroy_decompress(&p->d);
	free(p);
}

const char *dec_msg(decoder *p) { return p->e.msg; }

// dec_header reads the frame header. Results come back by value so that no Go pointer to a
// local escapes to C (which would make every call allocate).
header dec_header(decoder *p, const unsigned char *buf, unsigned long n) {
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

// dec_region decodes the image scaled by 1/denom, the rows [y0, y1) and at least the columns
// [x0, x1), into out (rows of 3*w bytes, w <= the scaled width): the columns it decodes are
// the returned [x, x+w), widened to whole iMCUs; out has one more row, scratch for the rows
// below y1. Rows above y0 are skipped (entropy-decoded
// only); below y1 decoding stops when the data ends with an EOI marker, and otherwise goes on
// to the end so that a truncated file is still reported.
span dec_region(decoder *p, const unsigned char *buf, unsigned long n, int denom,
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
	if (w < d->output_width) {
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
