package decode

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // GIF through the standard library
	"image/jpeg"
	_ "image/png" // PNG through the standard library
)

// stdConfig reads the size of any image format the standard library knows.
func stdConfig(data []byte) (w, h int, err error) {
	if len(data) == 0 {
		return 0, 0, fmt.Errorf("decode: empty input: %w", ErrCorrupt)
	}
	c, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return 0, 0, fmt.Errorf("decode: read header: %v: %w", err, ErrCorrupt)
	}
	if err := checkSize(c.Width, c.Height); err != nil {
		return 0, 0, err
	}
	return c.Width, c.Height, nil
}

// stdDecode decodes with the standard library and, for scaleDenom > 1, box-averages
// scaleDenom×scaleDenom blocks, the same size libjpeg's DCT scaling gives. scratch holds the
// full-size RGB image in between.
func stdDecode(data []byte, scaleDenom int, dst, scratch *Image) error {
	if _, _, err := stdConfig(data); err != nil {
		return err
	}
	var m image.Image
	var err error
	if isJPEG(data) {
		m, err = jpeg.Decode(bytes.NewReader(data))
	} else {
		m, _, err = image.Decode(bytes.NewReader(data))
	}
	if err != nil {
		return fmt.Errorf("decode: %v: %w", err, ErrCorrupt)
	}
	if scaleDenom == 1 {
		toRGB(m, dst)
		return nil
	}
	toRGB(m, scratch)
	boxDown(scratch, scaleDenom, dst)
	return nil
}

// toRGB converts m into packed RGB with a fast path for each type the standard decoders
// return. Alpha is dropped (as PIL's convert("RGB") does): NRGBA colours are taken as stored.
func toRGB(m image.Image, dst *Image) {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	dst.setSize(w, h)
	p := dst.Pix
	switch m := m.(type) {
	case *image.YCbCr:
		for y := 0; y < h; y++ {
			o := 3 * w * y
			for x := 0; x < w; x++ {
				yi := m.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := m.COffset(b.Min.X+x, b.Min.Y+y)
				p[o], p[o+1], p[o+2] = color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				o += 3
			}
		}
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			o := 3 * w * y
			for _, v := range row {
				p[o], p[o+1], p[o+2] = v, v, v
				o += 3
			}
		}
	case *image.NRGBA:
		copyRGBA(m.Pix, m.Stride, w, h, p)
	case *image.RGBA:
		copyRGBA(m.Pix, m.Stride, w, h, p)
	case *image.CMYK:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			o := 3 * w * y
			for x := 0; x < w; x++ {
				p[o], p[o+1], p[o+2] = color.CMYKToRGB(row[4*x], row[4*x+1], row[4*x+2], row[4*x+3])
				o += 3
			}
		}
	case *image.Paletted:
		var pal [256][3]uint8
		for i, c := range m.Palette {
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			pal[i] = [3]uint8{n.R, n.G, n.B}
		}
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			o := 3 * w * y
			for _, v := range row {
				c := pal[v]
				p[o], p[o+1], p[o+2] = c[0], c[1], c[2]
				o += 3
			}
		}
	default: // rare types (16-bit PNG, gray+alpha): the generic path is fine
		o := 0
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				n := color.NRGBAModel.Convert(m.At(x, y)).(color.NRGBA)
				p[o], p[o+1], p[o+2] = n.R, n.G, n.B
				o += 3
			}
		}
	}
}

func copyRGBA(pix []uint8, stride, w, h int, p []uint8) {
	for y := 0; y < h; y++ {
		row := pix[y*stride : y*stride+4*w]
		o := 3 * w * y
		for x := 0; x < w; x++ {
			p[o], p[o+1], p[o+2] = row[4*x], row[4*x+1], row[4*x+2]
			o += 3
		}
	}
}

// boxDown averages d×d blocks of src into dst (edge blocks average what exists).
func boxDown(src *Image, d int, dst *Image) {
	sw, sh := ScaledSize(src.W, src.H, d)
	dst.setSize(sw, sh)
	for y := 0; y < sh; y++ {
		y0, y1 := y*d, min(y*d+d, src.H)
		for x := 0; x < sw; x++ {
			x0, x1 := x*d, min(x*d+d, src.W)
			var r, g, b, n int
			for yy := y0; yy < y1; yy++ {
				o := 3 * (yy*src.W + x0)
				for xx := x0; xx < x1; xx++ {
					r += int(src.Pix[o])
					g += int(src.Pix[o+1])
					b += int(src.Pix[o+2])
					o += 3
					n++
				}
			}
			o := 3 * (y*sw + x)
			dst.Pix[o] = uint8((r + n/2) / n)
			dst.Pix[o+1] = uint8((g + n/2) / n)
			dst.Pix[o+2] = uint8((b + n/2) / n)
		}
	}
}
