package cuda

import (
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// The trainer's CPU maths, which the kernels must reproduce: each function below follows
// the trainer op it names (trainer/conv.go, batchnorm.go, linear.go, ntxent.go, optim.go, and
// Gorgonia's MaxPool2D and Rectify) operation by operation and in the same order of
// accumulation, so that where a kernel rounds as the CPU does the two agree bit for bit.

const (
	refBNMomentum = 0.1 // trainer bnMomentum
	refBNEpsilon  = 1e-5
	refAdamBeta1  = 0.9
	refAdamBeta2  = 0.999
	refAdamEps    = 1e-8
	refLARSEta    = 0.001
)

// refIm2col is convOp.im2col: row (c, ki, kj), column (n, oy, ox).
func refIm2col(g Window, x []float32) []float32 {
	oh, ow := g.OH(), g.OW()
	cols := g.ColCols()
	col := make([]float32, g.ColRows()*cols)
	for c := 0; c < g.C; c++ {
		for ki := 0; ki < g.K; ki++ {
			for kj := 0; kj < g.K; kj++ {
				row := ((c*g.K+ki)*g.K + kj) * cols
				for n := 0; n < g.N; n++ {
					for oy := 0; oy < oh; oy++ {
						for ox := 0; ox < ow; ox++ {
							iy, ix := oy*g.Stride-g.Pad+ki, ox*g.Stride-g.Pad+kj
							if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
								col[row+(n*oh+oy)*ow+ox] = x[((n*g.C+c)*g.H+iy)*g.W+ix]
							}
						}
					}
				}
			}
		}
	}
	return col
}

// refCol2im is convOp.col2im: dx zeroed, then every column entry added to its pixel in
// loop order (c, ki, kj, n, oy, ox).
func refCol2im(g Window, dcol []float32) []float32 {
	oh, ow := g.OH(), g.OW()
	cols := g.ColCols()
	dx := make([]float32, g.N*g.C*g.H*g.W)
	for c := 0; c < g.C; c++ {
		for ki := 0; ki < g.K; ki++ {
			for kj := 0; kj < g.K; kj++ {
				row := ((c*g.K+ki)*g.K + kj) * cols
				for n := 0; n < g.N; n++ {
					for oy := 0; oy < oh; oy++ {
						for ox := 0; ox < ow; ox++ {
							iy, ix := oy*g.Stride-g.Pad+ki, ox*g.Stride-g.Pad+kj
							if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
								dx[((n*g.C+c)*g.H+iy)*g.W+ix] += dcol[row+(n*oh+oy)*ow+ox]
							}
						}
					}
				}
			}
		}
	}
	return dx
}

// refConv is a convolution as a direct sum (NCHW, weights O×C×K×K): the meaning the
// im2col product must have.
func refConv(g Window, o int, x, w []float32) []float32 {
	oh, ow := g.OH(), g.OW()
	y := make([]float32, g.N*o*oh*ow)
	for n := 0; n < g.N; n++ {
		for oc := 0; oc < o; oc++ {
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					var s float64
					for c := 0; c < g.C; c++ {
						for ki := 0; ki < g.K; ki++ {
							for kj := 0; kj < g.K; kj++ {
								iy, ix := oy*g.Stride-g.Pad+ki, ox*g.Stride-g.Pad+kj
								if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
									s += float64(x[((n*g.C+c)*g.H+iy)*g.W+ix]) * float64(w[((oc*g.C+c)*g.K+ki)*g.K+kj])
								}
							}
						}
					}
					y[((n*o+oc)*oh+oy)*ow+ox] = float32(s)
				}
			}
		}
	}
	return y
}

// refMaxPool is Gorgonia's maxPoolOp.f32s: −MaxFloat32 start, strict >, the index within
// the plane; refMaxPoolBwd is maxPoolDiffOp.f32s.
func refMaxPool(g Window, x []float32) ([]float32, []int32) {
	oh, ow := g.OH(), g.OW()
	y := make([]float32, g.N*g.C*oh*ow)
	mask := make([]int32, len(y))
	for p := 0; p < g.N*g.C; p++ {
		in := x[p*g.H*g.W:]
		for ph := 0; ph < oh; ph++ {
			for pw := 0; pw < ow; pw++ {
				hs, ws := ph*g.Stride-g.Pad, pw*g.Stride-g.Pad
				he, we := min(hs+g.K, g.H), min(ws+g.K, g.W)
				hs, ws = max(hs, 0), max(ws, 0)
				o := p*oh*ow + ph*ow + pw
				y[o], mask[o] = -math.MaxFloat32, -1
				for hi := hs; hi < he; hi++ {
					for wi := ws; wi < we; wi++ {
						if v := in[hi*g.W+wi]; v > y[o] {
							y[o], mask[o] = v, int32(hi*g.W+wi)
						}
					}
				}
			}
		}
	}
	return y, mask
}

func refMaxPoolBwd(g Window, dy []float32, mask []int32) []float32 {
	oh, ow := g.OH(), g.OW()
	dx := make([]float32, g.N*g.C*g.H*g.W)
	for p := 0; p < g.N*g.C; p++ {
		for i := 0; i < oh*ow; i++ {
			dx[p*g.H*g.W+int(mask[p*oh*ow+i])] += dy[p*oh*ow+i]
		}
	}
	return dx
}

// refAvgPool and refAvgPoolBwd are poolOp.Do and poolGradOp.Do.
func refAvgPool(x []float32, nc, hw int) []float32 {
	y := make([]float32, nc)
	for i := range y {
		var s float32
		for _, v := range x[i*hw : (i+1)*hw] {
			s += v
		}
		y[i] = s / float32(hw)
	}
	return y
}

func refAvgPoolBwd(dy []float32, hw int) []float32 {
	dx := make([]float32, len(dy)*hw)
	for i, d := range dy {
		v := d / float32(hw)
		for j := 0; j < hw; j++ {
			dx[i*hw+j] = v
		}
	}
	return dx
}

// refBN is bnOp with its running statistics: forward (Do) and backward (bnGradOp.Do).
type refBN struct {
	n, c, hw            int
	relu, train, affine bool
	mean, vr            []float32
	xhat, istd          []float32
}

func (op *refBN) forward(x, gamma, beta []float32) []float32 {
	out := make([]float32, len(x))
	op.xhat = make([]float32, len(x))
	op.istd = make([]float32, op.c)
	m := float64(op.n * op.hw)
	for c := 0; c < op.c; c++ {
		var mu, istd float64
		switch {
		case op.affine:
			mu, istd = 0, 1
		case op.train:
			var s float64
			for n := 0; n < op.n; n++ {
				var p float32
				for _, v := range x[(n*op.c+c)*op.hw:][:op.hw] {
					p += v
				}
				s += float64(p)
			}
			mu = s / m
			fmu := float32(mu)
			var ss float64
			for n := 0; n < op.n; n++ {
				var p float32
				for _, v := range x[(n*op.c+c)*op.hw:][:op.hw] {
					d := v - fmu
					p += d * d
				}
				ss += float64(p)
			}
			vb := ss / m
			istd = 1 / math.Sqrt(vb+refBNEpsilon)
			unbiased := vb
			if m > 1 {
				unbiased = ss / (m - 1)
			}
			op.mean[c] = float32((1-refBNMomentum)*float64(op.mean[c]) + refBNMomentum*mu)
			op.vr[c] = float32((1-refBNMomentum)*float64(op.vr[c]) + refBNMomentum*unbiased)
		default:
			mu, istd = float64(op.mean[c]), 1/math.Sqrt(float64(op.vr[c])+refBNEpsilon)
		}
		op.istd[c] = float32(istd)
		g, b := gamma[c], beta[c]
		fmu, fistd := float32(mu), float32(istd)
		for n := 0; n < op.n; n++ {
			i0 := (n*op.c + c) * op.hw
			for j := 0; j < op.hw; j++ {
				h := (x[i0+j] - fmu) * fistd
				op.xhat[i0+j] = h
				if op.relu {
					out[i0+j] = max(g*h+b, 0)
				} else {
					out[i0+j] = g*h + b
				}
			}
		}
	}
	return out
}

func (op *refBN) backward(gamma, beta, dy []float32) (dx, dgam, dbet []float32) {
	dx = make([]float32, len(dy))
	dgam, dbet = make([]float32, op.c), make([]float32, op.c)
	m := float32(op.n * op.hw)
	for c := 0; c < op.c; c++ {
		g, b := gamma[c], beta[c]
		var sdy, sdyx float64
		for n := 0; n < op.n; n++ {
			i0 := (n*op.c + c) * op.hw
			var s1, s2 float32
			for j := 0; j < op.hw; j++ {
				h, v := op.xhat[i0+j], dy[i0+j]
				if op.relu && g*h+b <= 0 {
					v = 0
				}
				dx[i0+j] = v
				s1 += v
				s2 += v * h
			}
			sdy += float64(s1)
			sdyx += float64(s2)
		}
		dgam[c], dbet[c] = float32(sdyx), float32(sdy)
		k := g * op.istd[c]
		var mdy, mdyx float32
		if op.train && !op.affine {
			mdy, mdyx = float32(sdy)/m, float32(sdyx)/m
		}
		for n := 0; n < op.n; n++ {
			i0 := (n*op.c + c) * op.hw
			for j := 0; j < op.hw; j++ {
				dx[i0+j] = k * (dx[i0+j] - mdy - op.xhat[i0+j]*mdyx)
			}
		}
	}
	return dx, dgam, dbet
}

// refNTXent is ntXent with replicaPairs(n).
func refNTXent(z []float32, m, d, n int, temp float64) (float64, []float32) {
	pair := func(i int) int {
		blk, j := i/(2*n), i%(2*n)
		if j < n {
			return blk*2*n + j + n
		}
		return blk*2*n + j - n
	}
	u := make([]float64, m*d)
	norms := make([]float64, m)
	for i := 0; i < m; i++ {
		var ss float64
		for _, v := range z[i*d : (i+1)*d] {
			ss += float64(v) * float64(v)
		}
		nr := math.Max(math.Sqrt(ss), 1e-12)
		norms[i] = nr
		for j, v := range z[i*d : (i+1)*d] {
			u[i*d+j] = float64(v) / nr
		}
	}
	s := make([]float64, m*m)
	um := blas64.General{Rows: m, Cols: d, Stride: d, Data: u}
	sm := blas64.General{Rows: m, Cols: m, Stride: m, Data: s}
	blas64.Gemm(blas.NoTrans, blas.Trans, 1/temp, um, um, 0, sm)
	var loss float64
	inv := 1 / float64(m)
	for i := 0; i < m; i++ {
		row := s[i*m : (i+1)*m]
		mx := math.Inf(-1)
		for k, v := range row {
			if k != i && v > mx {
				mx = v
			}
		}
		var sum float64
		for k, v := range row {
			if k != i {
				sum += math.Exp(v - mx)
			}
		}
		lse := mx + math.Log(sum)
		p := pair(i)
		loss += lse - row[p]
		for k, v := range row {
			if k == i {
				row[k] = 0
				continue
			}
			row[k] = math.Exp(v-lse) * inv
		}
		row[p] -= inv
	}
	gu := make([]float64, m*d)
	gm := blas64.General{Rows: m, Cols: d, Stride: d, Data: gu}
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1/temp, sm, um, 0, gm)
	blas64.Gemm(blas.Trans, blas.NoTrans, 1/temp, sm, um, 1, gm)
	dz := make([]float32, m*d)
	for i := 0; i < m; i++ {
		var dot float64
		for j := 0; j < d; j++ {
			dot += u[i*d+j] * gu[i*d+j]
		}
		for j := 0; j < d; j++ {
			dz[i*d+j] = float32((gu[i*d+j] - u[i*d+j]*dot) / norms[i])
		}
	}
	return loss * inv, dz
}

// refSGD, refAdamW and refLARS are optimizer.sgd, .adamw and .lars.
func refSGD(w, g, buf []float32, lr, wd float64, momentum float64, nesterov bool) {
	mu := float32(momentum)
	for j := range w {
		gj := g[j] + float32(wd)*w[j]
		buf[j] = mu*buf[j] + gj
		if nesterov {
			gj += mu * buf[j]
		} else {
			gj = buf[j]
		}
		w[j] -= float32(lr) * gj
	}
}

func refAdamW(w, g, m, v []float32, t int64, lr, wd float64) {
	c1 := 1 - math.Pow(refAdamBeta1, float64(t))
	c2 := 1 - math.Pow(refAdamBeta2, float64(t))
	stepSize := lr / c1
	sq2 := math.Sqrt(c2)
	decay := float32(1 - lr*wd)
	for j := range w {
		gj := float64(g[j])
		mj := refAdamBeta1*float64(m[j]) + (1-refAdamBeta1)*gj
		vj := refAdamBeta2*float64(v[j]) + (1-refAdamBeta2)*gj*gj
		m[j], v[j] = float32(mj), float32(vj)
		w[j] = w[j]*decay - float32(stepSize*mj/(math.Sqrt(vj)/sq2+refAdamEps))
	}
}

func refLARS(w, g, buf []float32, lr, wd, momentum float64, adapt bool) {
	scaled := lr
	if adapt {
		var wn, gn float64
		for j := range w {
			gj := float64(g[j]) + wd*float64(w[j])
			wn += float64(w[j]) * float64(w[j])
			gn += gj * gj
		}
		wn, gn = math.Sqrt(wn), math.Sqrt(gn)
		if wn > 0 && gn > 0 {
			scaled = lr * refLARSEta * wn / gn
		}
	}
	mu := float32(momentum)
	for j := range w {
		gj := g[j] + float32(wd)*w[j]
		buf[j] = mu*buf[j] + float32(scaled)*gj
		w[j] -= buf[j]
	}
}
