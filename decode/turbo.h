//go:build cgo && !noturbojpeg

// The JPEG decoder of the cgo build (turbo.go calls it; purego.go is the pure-Go build's
// twin). It uses libjpeg-turbo's own libjpeg API (not TurboJPEG's): it can skip the rows above
// a region, crop the columns around it and stop below it, which TurboJPEG 2.1 cannot. Errors
// longjmp back to the call that met them, which returns rc 1; dec_msg then says why.

#ifndef NATSSL_DECODE_TURBO_H
#define NATSSL_DECODE_TURBO_H

#include <stdio.h> // jpeglib.h needs FILE and size_t first
#include <setjmp.h>
#include <jpeglib.h>

#if !defined(LIBJPEG_TURBO_VERSION_NUMBER) && !defined(JCS_EXTENSIONS)
#error "natssl needs libjpeg-turbo's libjpeg (Debian: libjpeg-dev)"
#endif

typedef struct {
	struct jpeg_error_mgr pub;
	jmp_buf jb;
	char msg[JMSG_LENGTH_MAX];
} errmgr;

// decoder is one libjpeg decompressor with its error manager; not safe for concurrent use.
typedef struct {
	struct jpeg_decompress_struct d;
	errmgr e;
} decoder;

// header is a JPEG's frame header: rc 0 on success, its size and colour space (J_COLOR_SPACE).
typedef struct { int rc, w, h, cs; } header;

// span is what dec_region decoded: rc 0 on success, the columns [x, x+w).
typedef struct { int rc, x, w; } span;

// dec_new returns a decoder, or NULL when out of memory; dec_free frees it.
decoder *dec_new(void);
void dec_free(decoder *p);

// dec_msg is the message of the last error.
const char *dec_msg(decoder *p);

// dec_header reads the frame header of the n bytes at buf.
header dec_header(decoder *p, const unsigned char *buf, unsigned long n);

// dec_region decodes the image scaled by 1/denom, the rows [y0, y1) and at least the columns
// [x0, x1), into out (rows of 3*w bytes; see turbo.c).
span dec_region(decoder *p, const unsigned char *buf, unsigned long n, int denom,
		int x0, int y0, int x1, int y1, unsigned char *out);

#endif
