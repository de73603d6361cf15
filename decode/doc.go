// Package decode turns encoded image bytes (JPEG, PNG, GIF) into packed RGB pixels.
//
// JPEGs go through libjpeg-turbo (a small cgo wrapper over the TurboJPEG API, Debian's
// libturbojpeg0-dev) with optional DCT-domain downscaling by 2 or 4; everything else, and
// every JPEG in builds with the noturbojpeg tag or without cgo, goes through the standard
// library. Backend names the build in use.
//
// A Decoder holds a TurboJPEG handle and scratch memory: use one per goroutine and Close it.
// Every input that cannot be decoded (truncated, corrupt, empty, not an image, larger than
// MaxPixels) yields an error wrapping ErrCorrupt; the decoder never panics on bad input.
// libjpeg's warnings count as corruption (a truncated file would otherwise decode with a grey
// bottom), except "extraneous bytes before marker", which leaves a whole image and which PIL
// accepts too. CMYK and YCCK JPEGs, which TurboJPEG cannot turn into RGB, go through
// image/jpeg. The libjpeg-turbo build decodes to the same bytes as PIL.
//
// Owner: the augment engineer (issue 4).
package decode
