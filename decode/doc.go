// Package decode turns encoded image bytes (JPEG, PNG, GIF) into packed RGB pixels.
//
// JPEGs go through libjpeg-turbo (a small C wrapper over its libjpeg API, Debian's
// libjpeg-dev: turbo.c and turbo.h, called from turbo.go) with optional DCT-domain downscaling
// by 2 or 4; everything else, and every JPEG in builds with the noturbojpeg tag or without
// cgo, goes through the standard library (purego.go; the C files are not compiled there).
// Backend names the build in use.
//
// DecodeRegion decodes only what a region needs: libjpeg-turbo skips the colour conversion,
// upsampling and inverse DCT of the rows above it (their entropy-coded data must still be
// read), crops the columns to the iMCUs around it, and stops below it. The region's pixels are
// exactly those of a whole decode (it is widened by one iMCU on every side so that chroma
// upsampling sees the same neighbours; a test compares every pixel).
//
// A Decoder holds a libjpeg decompressor and scratch memory: use one per goroutine and Close
// it. Every input that cannot be decoded (truncated, corrupt, empty, not an image, larger than
// MaxPixels) yields an error wrapping ErrCorrupt; the decoder never panics on bad input.
// libjpeg's warnings count as corruption (a truncated file would otherwise decode with a grey
// bottom), except "extraneous bytes before marker", which leaves a whole image and which PIL
// accepts too. A region decode that stops early still reports a file cut short: it reads on to
// the end unless the data ends with an EOI marker. CMYK and YCCK JPEGs, which libjpeg cannot
// turn into RGB, go through image/jpeg. The libjpeg-turbo build decodes to the same bytes as PIL.
package decode
