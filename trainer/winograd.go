package trainer

import "sync"

// Winograd's minimal filtering F(4×4, 3×3) for the stride-1, pad-1 3×3 convolutions, which
// are nine tenths of a ResNet's multiply-adds. An output tile of 4×4 pixels comes from a
// 6×6 input tile: Y = Aᵀ[(G w Gᵀ) ⊙ (Bᵀ d B)]A, with the interpolation points 0, ±1, ±2, ∞.
// Over a block of tiles the elementwise product summed over input channels is 36 matrix
// products (one per position ξ of the 6×6 tile), a quarter of the direct method's
// multiply-adds.
//
// The backward pass is the exact adjoint of the forward: the output gradient of a tile goes
// back through Aᵀ (dM = A dY Aᵀ); the weight gradient is dU = Vᵀ dM summed over tiles, then
// back through G (dw = Gᵀ dU G); the input gradient is dV = dM Uᵀ, then back through Bᵀ and
// added into the overlapping 6×6 input tiles (dx += B dV Bᵀ). So every gradient is that of
// the computation the forward did, and the results differ from the direct convolution's
// only by rounding.
//
// Layouts: x is channels-last (n·h·w × c); V and dV are [36][tiles][c], M and dM are
// [36][tiles][o], U and dU are [36][c][o]; weights are PyTorch's [o][c][3][3].

// winoTiles is the number of 4×4 output tiles of n images of h×w pixels.
func winoTiles(n, h, w int) int { return n * ((h + 3) / 4) * ((w + 3) / 4) }

// winoTile locates tile t: its image and the top-left output pixel.
func winoTile(t, h, w int) (img, y0, x0 int) {
	th, tw := (h+3)/4, (w+3)/4
	img, r := t/(th*tw), t%(th*tw)
	return img, r / tw * 4, r % tw * 4
}

// The fractions of G, as products (a division per element would dominate the transform).
const (
	r4  = float32(1) / 4
	r6  = float32(1) / 6
	r12 = float32(1) / 12
	r24 = float32(1) / 24
)

// winoWeightsScratch is the length of the buffer winoWeights and winoWeightsBack take for
// o output channels: 16 input channels' kernels, transposed.
func winoWeightsScratch(o int) int { return 16 * 9 * o }

// winoWeightsGo writes U[ξ][c][o] = (G w[o][c] Gᵀ)[ξ] for o×c 3×3 kernels.
func winoWeightsGo(w, u []float32, o, c int) {
	var t [6][3]float32
	for oi := 0; oi < o; oi++ {
		for ci := 0; ci < c; ci++ {
			k := w[(oi*c+ci)*9:][:9]
			for j := 0; j < 3; j++ { // t = G k (columns of k)
				g0, g1, g2 := k[j], k[3+j], k[6+j]
				t[0][j], t[1][j], t[2][j], t[3][j], t[4][j], t[5][j] = gMul(g0, g1, g2)
			}
			for i := 0; i < 6; i++ { // row i of t Gᵀ
				g0, g1, g2 := t[i][0], t[i][1], t[i][2]
				var r [6]float32
				r[0], r[1], r[2], r[3], r[4], r[5] = gMul(g0, g1, g2)
				for j, v := range r {
					u[((i*6+j)*c+ci)*o+oi] = v
				}
			}
		}
	}
}

// winoWeightsBackGo writes dw[o][c] = Gᵀ dU[·][c][o] G, the adjoint of winoWeightsGo.
func winoWeightsBackGo(du, dw []float32, o, c int) {
	var t [6][3]float32
	for oi := 0; oi < o; oi++ {
		for ci := 0; ci < c; ci++ {
			for i := 0; i < 6; i++ { // t = dU G (rows of dU)
				var d [6]float32
				for j := range d {
					d[j] = du[((i*6+j)*c+ci)*o+oi]
				}
				t[i] = gT(d)
			}
			k := dw[(oi*c+ci)*9:][:9]
			for j := 0; j < 3; j++ { // column j of Gᵀ t
				col := gT([6]float32{t[0][j], t[1][j], t[2][j], t[3][j], t[4][j], t[5][j]})
				k[j], k[3+j], k[6+j] = col[0], col[1], col[2]
			}
		}
	}
}

// gMul is G(g0, g1, g2)ᵀ.
func gMul(g0, g1, g2 float32) (u0, u1, u2, u3, u4, u5 float32) {
	return g0 * r4, -(g0 + g1 + g2) * r6, -(g0 - g1 + g2) * r6,
		g0*r24 + g1*r12 + g2*r6, g0*r24 - g1*r12 + g2*r6, g2
}

// gT is Gᵀd for a 6-vector d.
func gT(d [6]float32) [3]float32 {
	return [3]float32{
		d[0]*r4 - (d[1]+d[2])*r6 + (d[3]+d[4])*r24,
		(d[2]-d[1])*r6 + (d[3]-d[4])*r12,
		(d[3]+d[4]-d[1]-d[2])*r6 + d[5],
	}
}

// bT is Bᵀd for a 6-vector d.
func bT(d [6]float32) [6]float32 {
	return [6]float32{
		4*d[0] - 5*d[2] + d[4],
		-4*d[1] - 4*d[2] + d[3] + d[4],
		4*d[1] - 4*d[2] - d[3] + d[4],
		-2*d[1] - d[2] + 2*d[3] + d[4],
		2*d[1] - d[2] - 2*d[3] + d[4],
		4*d[1] - 5*d[3] + d[5],
	}
}

// bAdj is B v for a 6-vector v, the adjoint of bT.
func bAdj(v [6]float32) [6]float32 {
	return [6]float32{
		4 * v[0],
		-4*v[1] + 4*v[2] - 2*v[3] + 2*v[4] + 4*v[5],
		-5*v[0] - 4*v[1] - 4*v[2] - v[3] - v[4],
		v[1] - v[2] + 2*v[3] - 2*v[4] - 5*v[5],
		v[0] + v[1] + v[2] + v[3] + v[4],
		v[5],
	}
}

// aT is Aᵀm for a 6-vector m.
func aT(m [6]float32) [4]float32 {
	return [4]float32{
		m[0] + m[1] + m[2] + m[3] + m[4],
		m[1] - m[2] + 2*m[3] - 2*m[4],
		m[1] + m[2] + 4*m[3] + 4*m[4],
		m[1] - m[2] + 8*m[3] - 8*m[4] + m[5],
	}
}

// aAdj is A g for a 4-vector g, the adjoint of aT.
func aAdj(g [4]float32) [6]float32 {
	return [6]float32{
		g[0],
		g[0] + g[1] + g[2] + g[3],
		g[0] - g[1] + g[2] - g[3],
		g[0] + 2*g[1] + 4*g[2] + 8*g[3],
		g[0] - 2*g[1] + 4*g[2] - 8*g[3],
		g[3],
	}
}

// winoInputGo writes V[ξ][t−t0][c] = (Bᵀ d B)[ξ] for the tiles t0 … t0+tb−1 of x (n images
// of h×w, channels-last), d being the tile's 6×6 input patch with zeros outside the image.
func winoInputGo(x, v []float32, h, w, c, t0, tb int) {
	var d, t [6][6]float32
	for ti := 0; ti < tb; ti++ {
		img, y0, x0 := winoTile(t0+ti, h, w)
		for ch := 0; ch < c; ch++ {
			for i := 0; i < 6; i++ {
				for j := 0; j < 6; j++ {
					iy, ix := y0-1+i, x0-1+j
					d[i][j] = 0
					if iy >= 0 && iy < h && ix >= 0 && ix < w {
						d[i][j] = x[((img*h+iy)*w+ix)*c+ch]
					}
				}
			}
			for j := 0; j < 6; j++ { // columns: t = Bᵀ d
				col := bT([6]float32{d[0][j], d[1][j], d[2][j], d[3][j], d[4][j], d[5][j]})
				for i := range col {
					t[i][j] = col[i]
				}
			}
			for i := 0; i < 6; i++ { // rows: (Bᵀ d) B = (Bᵀ rowᵀ)ᵀ
				row := bT(t[i])
				for j, val := range row {
					v[((i*6+j)*tb+ti)*c+ch] = val
				}
			}
		}
	}
}

// winoInputBackGo adds B dV[·][t−t0][c] Bᵀ into the 6×6 input patches of the tiles
// t0 … t0+tb−1 of dx, dropping what falls outside the image: the adjoint of winoInputGo.
func winoInputBackGo(dv, dx []float32, h, w, c, t0, tb int) {
	var t [6][6]float32
	for ti := 0; ti < tb; ti++ {
		img, y0, x0 := winoTile(t0+ti, h, w)
		for ch := 0; ch < c; ch++ {
			for i := 0; i < 6; i++ {
				var r [6]float32
				for j := range r {
					r[j] = dv[((i*6+j)*tb+ti)*c+ch]
				}
				t[i] = bAdj(r)
			}
			for j := 0; j < 6; j++ {
				col := bAdj([6]float32{t[0][j], t[1][j], t[2][j], t[3][j], t[4][j], t[5][j]})
				ix := x0 - 1 + j
				if ix < 0 || ix >= w {
					continue
				}
				for i, val := range col {
					iy := y0 - 1 + i
					if iy >= 0 && iy < h {
						dx[((img*h+iy)*w+ix)*c+ch] += val
					}
				}
			}
		}
	}
}

// winoOutputGo writes the 4×4 output tiles Aᵀ M[·][t−t0][o] A of the tiles t0 … t0+tb−1
// into y (channels-last, o channels), dropping pixels outside the image.
func winoOutputGo(m, y []float32, h, w, o, t0, tb int) {
	var t [4][6]float32
	for ti := 0; ti < tb; ti++ {
		img, y0, x0 := winoTile(t0+ti, h, w)
		for oc := 0; oc < o; oc++ {
			for j := 0; j < 6; j++ {
				var col [6]float32
				for i := range col {
					col[i] = m[((i*6+j)*tb+ti)*o+oc]
				}
				r := aT(col)
				for i := range r {
					t[i][j] = r[i]
				}
			}
			for i := 0; i < 4; i++ {
				oy := y0 + i
				if oy >= h {
					break
				}
				row := aT(t[i])
				for j, val := range row {
					if ox := x0 + j; ox < w {
						y[((img*h+oy)*w+ox)*o+oc] = val
					}
				}
			}
		}
	}
}

// winoOutputBackGo writes dM[ξ][t−t0][o] = (A g Aᵀ)[ξ] for the output-gradient tiles g of
// dy (zeros outside the image): the adjoint of winoOutputGo.
func winoOutputBackGo(dy, dm []float32, h, w, o, t0, tb int) {
	var t [6][4]float32
	for ti := 0; ti < tb; ti++ {
		img, y0, x0 := winoTile(t0+ti, h, w)
		for oc := 0; oc < o; oc++ {
			for j := 0; j < 4; j++ {
				var g [4]float32
				ox := x0 + j
				for i := range g {
					if oy := y0 + i; oy < h && ox < w {
						g[i] = dy[((img*h+oy)*w+ox)*o+oc]
					}
				}
				col := aAdj(g)
				for i := range col {
					t[i][j] = col[i]
				}
			}
			for i := 0; i < 6; i++ {
				row := aAdj(t[i])
				for j, val := range row {
					dm[((i*6+j)*tb+ti)*o+oc] = val
				}
			}
		}
	}
}

// winoShare gives the replicas of a net one buffer per Winograd convolution for its
// transformed weights, which the net computes once per step (update) rather than every
// replica in its forward and again in its backward pass.
type winoShare struct {
	byName map[string]*winoShared
	list   []*winoShared
}

type winoShared struct {
	w    *param
	o, c int
	u    []float32
}

func newWinoShare() *winoShare { return &winoShare{byName: map[string]*winoShared{}} }

// buffer returns the transformed-weights buffer of convolution weight w (o × c × 3 × 3).
func (s *winoShare) buffer(w *param, o, c int) []float32 {
	if e, ok := s.byName[w.name]; ok {
		return e.u
	}
	e := &winoShared{w: w, o: o, c: c, u: make([]float32, 36*c*o)}
	s.byName[w.name] = e
	s.list = append(s.list, e)
	return e.u
}

// update transforms every shared convolution's current weights, on up to workers goroutines.
func (s *winoShare) update(workers int) {
	var wg sync.WaitGroup
	for k := 0; k < min(workers, len(s.list)); k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var wt []float32
			for i := k; i < len(s.list); i += workers {
				e := s.list[i]
				wt = grow(wt, winoWeightsScratch(e.o))
				winoWeights(e.w.data(), e.u, wt, e.o, e.c)
			}
		}()
	}
	wg.Wait()
}
