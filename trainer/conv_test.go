package trainer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
)

// TestConvAgainstDirect compares the im2col convolution with the textbook sum, and checks
// that col2im is the adjoint of im2col (⟨im2col x, y⟩ = ⟨x, col2im y⟩), which is what makes
// the input gradient right, for the kernel, stride and padding combinations the encoders use.
func TestConvAgainstDirect(t *testing.T) {
	for _, tc := range []struct{ n, c, h, w, o, k, s, p int }{
		{2, 3, 8, 8, 4, 3, 1, 1},
		{2, 3, 9, 9, 4, 3, 2, 1},
		{1, 2, 11, 11, 3, 7, 2, 3},
		{2, 4, 6, 6, 5, 1, 2, 0},
		{1, 2, 5, 7, 2, 3, 1, 0},
	} {
		t.Run(fmt.Sprintf("%dx%d/%d pad %d on %dx%d", tc.k, tc.k, tc.s, tc.p, tc.h, tc.w), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			x := make([]float32, tc.n*tc.c*tc.h*tc.w)
			w := make([]float32, tc.o*tc.c*tc.k*tc.k)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			for i := range w {
				w[i] = float32(rng.NormFloat64())
			}
			op := newConvOp(tensor.Shape{tc.n, tc.c, tc.h, tc.w}, tc.o, tc.k, tc.s, tc.p, false, &convScratch{})
			out, err := op.Do(tensor.New(tensor.WithShape(tc.n, tc.c, tc.h, tc.w), tensor.WithBacking(x)),
				tensor.New(tensor.WithShape(tc.o, tc.c, tc.k, tc.k), tensor.WithBacking(w)))
			if err != nil {
				t.Fatal(err)
			}
			y := out.Data().([]float32)
			for n := 0; n < tc.n; n++ {
				for o := 0; o < tc.o; o++ {
					for oy := 0; oy < op.oh; oy++ {
						for ox := 0; ox < op.ow; ox++ {
							var s float64
							for c := 0; c < tc.c; c++ {
								for ki := 0; ki < tc.k; ki++ {
									for kj := 0; kj < tc.k; kj++ {
										iy, ix := oy*tc.s-tc.p+ki, ox*tc.s-tc.p+kj
										if iy >= 0 && iy < tc.h && ix >= 0 && ix < tc.w {
											s += float64(x[((n*tc.c+c)*tc.h+iy)*tc.w+ix]) * float64(w[((o*tc.c+c)*tc.k+ki)*tc.k+kj])
										}
									}
								}
							}
							got := y[((n*tc.o+o)*op.oh+oy)*op.ow+ox]
							if math.Abs(float64(got)-s) > 1e-4 {
								t.Fatalf("y[%d,%d,%d,%d] = %v, direct %v", n, o, oy, ox, got, s)
							}
						}
					}
				}
			}
			col := append([]float32(nil), op.col...)
			r := make([]float32, len(col))
			var lhs float64
			for i := range r {
				r[i] = float32(rng.NormFloat64())
				lhs += float64(r[i]) * float64(col[i])
			}
			dx := make([]float32, len(x))
			op.col2im(r, dx)
			var rhs float64
			for i := range x {
				rhs += float64(x[i]) * float64(dx[i])
			}
			if math.Abs(lhs-rhs) > 1e-3*(1+math.Abs(lhs)) {
				t.Fatalf("⟨im2col x, r⟩ = %v, ⟨x, col2im r⟩ = %v", lhs, rhs)
			}
		})
	}
}
