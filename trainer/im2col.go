package trainer

// convGeom is the shape of a convolution over channels-last activations: n images of h×w
// pixels and c channels in, o channels of oh×ow out, k×k kernels at stride s with p pixels
// of zero padding.
type convGeom struct {
	n, h, w, c int
	o, k, s, p int
	oh, ow     int
}

func newConvGeom(n, h, w, c, o, k, s, p int) convGeom {
	return convGeom{n: n, h: h, w: w, c: c, o: o, k: k, s: s, p: p,
		oh: (h+2*p-k)/s + 1, ow: (w+2*p-k)/s + 1}
}

// outPixels is the number of output pixels, N·OH·OW; colWidth the length of an im2col row.
func (g convGeom) outPixels() int { return g.n * g.oh * g.ow }
func (g convGeom) colWidth() int  { return g.k * g.k * g.c }

// im2colGo writes rows r0 … r0+rows−1 of the column matrix of x: row (n, oy, ox) holds the
// k×k input pixels under that output pixel, (ki, kj, c) in order, zero where they fall in
// the padding.
func im2colGo(x, col []float32, g convGeom, r0, rows int) {
	kc := g.colWidth()
	for r := 0; r < rows; r++ {
		img, oy, ox := g.pixel(r0 + r)
		dst := col[r*kc:][:kc]
		for ki := 0; ki < g.k; ki++ {
			iy := oy*g.s - g.p + ki
			for kj := 0; kj < g.k; kj++ {
				ix := ox*g.s - g.p + kj
				d := dst[(ki*g.k+kj)*g.c:][:g.c]
				if iy < 0 || iy >= g.h || ix < 0 || ix >= g.w {
					clear(d)
					continue
				}
				copy(d, x[((img*g.h+iy)*g.w+ix)*g.c:][:g.c])
			}
		}
	}
}

// col2imGo adds the rows r0 … r0+rows−1 of a column-matrix gradient into dx, the adjoint
// of im2colGo.
func col2imGo(dcol, dx []float32, g convGeom, r0, rows int) {
	kc := g.colWidth()
	for r := 0; r < rows; r++ {
		img, oy, ox := g.pixel(r0 + r)
		src := dcol[r*kc:][:kc]
		for ki := 0; ki < g.k; ki++ {
			iy := oy*g.s - g.p + ki
			if iy < 0 || iy >= g.h {
				continue
			}
			for kj := 0; kj < g.k; kj++ {
				ix := ox*g.s - g.p + kj
				if ix < 0 || ix >= g.w {
					continue
				}
				addGo(dx[((img*g.h+iy)*g.w+ix)*g.c:][:g.c], src[(ki*g.k+kj)*g.c:][:g.c])
			}
		}
	}
}

// pixel locates output row r: its image and output coordinates.
func (g convGeom) pixel(r int) (img, oy, ox int) {
	img, r = r/(g.oh*g.ow), r%(g.oh*g.ow)
	return img, r / g.ow, r % g.ow
}

// subsample writes the rows r0 … r0+rows−1 of a 1×1 stride-s convolution's input: the
// pixels (oy·s, ox·s) of x. subsampleBack adds such rows back into dx, its adjoint.
func subsample(x, col []float32, g convGeom, r0, rows int) {
	for r := 0; r < rows; r++ {
		img, oy, ox := g.pixel(r0 + r)
		copy(col[r*g.c:][:g.c], x[((img*g.h+oy*g.s)*g.w+ox*g.s)*g.c:][:g.c])
	}
}

func subsampleBack(dcol, dx []float32, g convGeom, r0, rows int) {
	for r := 0; r < rows; r++ {
		img, oy, ox := g.pixel(r0 + r)
		add(dx[((img*g.h+oy*g.s)*g.w+ox*g.s)*g.c:][:g.c], dcol[r*g.c:][:g.c])
	}
}

// weightsKCOGo lays out w[o][c][ki][kj] as the (ki, kj, c) × o matrix the im2col product
// takes; weightsKCOBackGo is its inverse, for the weight gradient.
func weightsKCOGo(w, wk []float32, g convGeom) {
	kk := g.k * g.k
	for o := 0; o < g.o; o++ {
		for c := 0; c < g.c; c++ {
			for q := 0; q < kk; q++ {
				wk[(q*g.c+c)*g.o+o] = w[(o*g.c+c)*kk+q]
			}
		}
	}
}

func weightsKCOBackGo(dwk, dw []float32, g convGeom) {
	kk := g.k * g.k
	for o := 0; o < g.o; o++ {
		for c := 0; c < g.c; c++ {
			for q := 0; q < kk; q++ {
				dw[(o*g.c+c)*kk+q] = dwk[(q*g.c+c)*g.o+o]
			}
		}
	}
}
