//go:build !cgo || noturbojpeg

package decode

import "image"

// Backend names the decoder compiled into this build.
const Backend = "image/jpeg (pure Go)"

// Decoder decodes images through the standard library. It is not safe for concurrent use:
// give each goroutine its own.
type Decoder struct {
	scratch Image // full-size pixels when scaling
}

// NewDecoder returns a decoder.
func NewDecoder() *Decoder { return &Decoder{} }

// Close releases the decoder's scratch memory.
func (d *Decoder) Close() { d.scratch = Image{} }

// Config returns the image's size from its header, without decoding pixels.
func (d *Decoder) Config(data []byte) (w, h int, err error) { return stdConfig(data) }

// Decode decodes data into dst (whose memory is reused), downscaled by scaleDenom (1, 2 or 4)
// by averaging blocks; dst gets ScaledSize(w, h, scaleDenom) pixels.
func (d *Decoder) Decode(data []byte, scaleDenom int, dst *Image) error {
	if err := checkScale(scaleDenom); err != nil {
		return err
	}
	return stdDecode(data, scaleDenom, dst, &d.scratch)
}

// DecodeRegion is Decode: this build decodes whole images, which hold every region r.
func (d *Decoder) DecodeRegion(data []byte, scaleDenom int, r image.Rectangle, dst *Image) error {
	return d.Decode(data, scaleDenom, dst)
}
