package trainer

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestKernelsMatchGo holds every kernel this build runs (C where cgo is on) to its Go
// reference, on shapes with a channel count that is not a multiple of the C code's vector
// block and images whose sides are not multiples of Winograd's tiles.
func TestKernelsMatchGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const h, w, c, o, n = 7, 10, 19, 21, 2
	g := newConvGeom(n, h, w, c, o, 3, 2, 1)
	tiles := winoTiles(n, h, w)
	x := randSlice(rng, n*h*w*c)
	dyo := randSlice(rng, n*h*w*o)
	wt := randSlice(rng, o*c*9)
	u := randSlice(rng, 36*c*o)
	v := randSlice(rng, 36*tiles*c)
	m := randSlice(rng, 36*tiles*o)
	dcol := randSlice(rng, g.outPixels()*g.colWidth())
	scale, shift := randSlice(rng, c), randSlice(rng, c)
	mean, istd := randSlice(rng, c), randSlice(rng, c)
	k3 := [3][]float32{randSlice(rng, c), randSlice(rng, c), randSlice(rng, c)}
	rows := n * h * w
	for _, tc := range []struct {
		name   string
		size   int
		noZero bool // the kernel adds to its output: start both from the same values
		run    func(out []float32, ref bool)
	}{
		{"winoInput", 36 * (tiles - 1) * c, false, func(out []float32, ref bool) {
			pick(ref, winoInputGo, winoInput)(x, out, h, w, c, 1, tiles-1)
		}},
		{"winoInputBack", len(x), true, func(out []float32, ref bool) {
			pick(ref, winoInputBackGo, winoInputBack)(v, out, h, w, c, 0, tiles)
		}},
		{"winoOutput", len(dyo), true, func(out []float32, ref bool) {
			pick(ref, winoOutputGo, winoOutput)(m, out, h, w, o, 0, tiles)
		}},
		{"winoOutputBack", 36 * tiles * o, false, func(out []float32, ref bool) {
			pick(ref, winoOutputBackGo, winoOutputBack)(dyo, out, h, w, o, 0, tiles)
		}},
		{"winoWeights", 36 * c * o, false, func(out []float32, ref bool) {
			if ref {
				winoWeightsGo(wt, out, o, c)
			} else {
				winoWeights(wt, out, make([]float32, winoWeightsScratch(o)), o, c)
			}
		}},
		{"winoWeightsBack", o * c * 9, false, func(out []float32, ref bool) {
			if ref {
				winoWeightsBackGo(u, out, o, c)
			} else {
				winoWeightsBack(u, out, make([]float32, winoWeightsScratch(o)), o, c)
			}
		}},
		{"weightsKCO", len(wt), false, func(out []float32, ref bool) {
			pick(ref, weightsKCOGo, weightsKCO)(wt, out, g)
		}},
		{"weightsKCOBack", len(wt), false, func(out []float32, ref bool) {
			pick(ref, weightsKCOBackGo, weightsKCOBack)(wt, out, g)
		}},
		{"im2col", g.outPixels() * g.colWidth(), false, func(out []float32, ref bool) {
			pick(ref, im2colGo, im2col)(x, out, g, 0, g.outPixels())
		}},
		{"col2im", len(x), true, func(out []float32, ref bool) {
			pick(ref, col2imGo, col2im)(dcol, out, g, 0, g.outPixels())
		}},
		{"bnApply", len(x), false, func(out []float32, ref bool) {
			pick(ref, bnApplyGo, bnApply)(x, out, nil, rows, c, scale, shift, true)
		}},
		{"bnApply residual", len(x), false, func(out []float32, ref bool) {
			pick(ref, bnApplyGo, bnApply)(x, out, dyo[:len(x)], rows, c, scale, shift, true)
		}},
		{"bnBackApply", len(x), false, func(out []float32, ref bool) {
			pick(ref, bnBackApplyGo, bnBackApply)(x, dyo[:len(x)], out, rows, c, mean, istd, scale, shift, k3[0], k3[1], k3[2], true)
		}},
		{"reluMask", len(x), true, func(out []float32, ref bool) {
			pick(ref, reluMaskGo, reluMask)(out, dyo[:len(x)])
		}},
		{"add", len(x), true, func(out []float32, ref bool) {
			pick(ref, addGo, add)(out, dyo[:len(x)])
		}},
		{"chanSums", 2 * c, false, func(out []float32, ref bool) {
			s := make([]float64, c)
			pick(ref, chanSumsGo, chanSums)(x, rows, c, h*w, nil, false, s)
			pick(ref, chanSumsGo, chanSums)(x, rows, c, h*w, mean, true, s)
			f64to32(out, s)
		}},
		{"bnBackSums", 2 * c, false, func(out []float32, ref bool) {
			s1, s2 := make([]float64, c), make([]float64, c)
			pick(ref, bnBackSumsGo, bnBackSums)(x, dyo[:len(x)], rows, c, h*w, mean, istd, scale, shift, true, s1, s2)
			f64to32(out[:c], s1)
			f64to32(out[c:], s2)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, want := make([]float32, tc.size), make([]float32, tc.size)
			if tc.noZero {
				copy(got, randSlice(rand.New(rand.NewPCG(5, 6)), tc.size))
				copy(want, got)
			}
			tc.run(got, false)
			tc.run(want, true)
			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*(1+math.Abs(float64(want[i]))) || math.IsNaN(d) {
					t.Fatalf("[%d] = %v, Go reference %v", i, got[i], want[i])
				}
			}
		})
	}
}

// pick returns the Go reference when ref is set, else the kernel this build runs.
func pick[F any](ref bool, goRef, kernel F) F {
	if ref {
		return goRef
	}
	return kernel
}

func f64to32(dst []float32, src []float64) {
	for i, v := range src {
		dst[i] = float32(v)
	}
}
