package trainer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/natssl/natssl/configs"
)

// TestConvAgainstDirect compares every convolution algorithm (im2col, pointwise, Winograd)
// with the textbook sums in float64: the output, the weight gradient and the input
// gradient, for the kernel, stride and padding combinations the encoders use, on sides that
// are and are not multiples of Winograd's 4-pixel tiles, and with blocks smaller than the
// batch so that block edges are crossed.
func TestConvAgainstDirect(t *testing.T) {
	for _, tc := range []struct {
		n, c, h, w, o, k, s, p int
		want                   convAlgo
	}{
		{2, 3, 8, 8, 4, 3, 1, 1, convIm2col},
		{2, 3, 9, 9, 4, 3, 2, 1, convIm2col},
		{1, 2, 11, 11, 3, 7, 2, 3, convIm2col},
		{2, 4, 6, 6, 5, 1, 2, 0, convIm2col},
		{2, 4, 6, 6, 5, 1, 1, 0, convPointwise},
		{1, 2, 5, 7, 2, 3, 1, 0, convIm2col},
		{2, 16, 8, 8, 24, 3, 1, 1, convWinograd},
		{3, 17, 7, 10, 9, 3, 1, 1, convWinograd},
		{1, 32, 4, 4, 16, 3, 1, 1, convWinograd},
	} {
		name := fmt.Sprintf("%dx%d/%d pad %d on %dx%d, %d→%d", tc.k, tc.k, tc.s, tc.p, tc.h, tc.w, tc.c, tc.o)
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			g := newConvGeom(tc.n, tc.h, tc.w, tc.c, tc.o, tc.k, tc.s, tc.p)
			x := randSlice(rng, tc.n*tc.h*tc.w*tc.c)
			w := randSlice(rng, tc.o*tc.c*tc.k*tc.k)
			dy := randSlice(rng, g.outPixels()*tc.o)
			l := newConvLayer(g, false, true, &convScratch{})
			l.block, l.minRows = 200*max(tc.c, tc.o), 1
			if l.algo != tc.want {
				t.Fatalf("algorithm %d, want %d", l.algo, tc.want)
			}
			y := make([]float32, g.outPixels()*tc.o)
			l.forward(x, w, y)
			dx := randSlice(rng, len(x)) // the gradient is added to what is there
			dx0 := append([]float32(nil), dx...)
			dw := make([]float32, len(w))
			l.backward(x, w, dy, dx, dw)

			wy := make([]float64, len(y))
			wdx := make([]float64, len(x))
			wdw := make([]float64, len(w))
			for i, v := range dx0 {
				wdx[i] = float64(v)
			}
			for r := 0; r < g.outPixels(); r++ {
				img, oy, ox := g.pixel(r)
				for o := 0; o < tc.o; o++ {
					for c := 0; c < tc.c; c++ {
						for ki := 0; ki < tc.k; ki++ {
							for kj := 0; kj < tc.k; kj++ {
								iy, ix := oy*tc.s-tc.p+ki, ox*tc.s-tc.p+kj
								if iy < 0 || iy >= tc.h || ix < 0 || ix >= tc.w {
									continue
								}
								xi := ((img*tc.h+iy)*tc.w+ix)*tc.c + c
								wi := ((o*tc.c+c)*tc.k+ki)*tc.k + kj
								wy[r*tc.o+o] += float64(x[xi]) * float64(w[wi])
								wdw[wi] += float64(dy[r*tc.o+o]) * float64(x[xi])
								wdx[xi] += float64(dy[r*tc.o+o]) * float64(w[wi])
							}
						}
					}
				}
			}
			tol := 1e-4 * float64(tc.c*tc.k*tc.k)
			for _, v := range []struct {
				what string
				got  []float32
				want []float64
			}{{"y", y, wy}, {"dw", dw, wdw}, {"dx", dx, wdx}} {
				for i := range v.want {
					if math.Abs(float64(v.got[i])-v.want[i]) > tol*(1+math.Abs(v.want[i])) {
						t.Fatalf("%s[%d] = %v, direct %v", v.what, i, v.got[i], v.want[i])
					}
				}
			}
		})
	}
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// TestWinogradNetworkMatchesIm2col: a ResNet whose 3×3 convolutions run by Winograd's
// method gives the loss and gradients of the same ResNet with every convolution by im2col
// (checked against the direct sums above and against finite differences in
// TestNetworkGradient), up to rounding, with batch norm in training mode.
func TestWinogradNetworkMatchesIm2col(t *testing.T) {
	m := configs.Model{Backbone: "resnet18-cifar", Width: 16, ProjHidden: 16, ProjDim: 8}
	views := randomViews(21, 4, 12)
	var losses [2]float64
	var grads [2][][]float32
	for i, noWino := range []bool{false, true} {
		n, err := newNet(m, 12, 4, []string{"cpu"}, 5, 0.5, buildOptions{noWinograd: noWino})
		if err != nil {
			t.Fatal(err)
		}
		wino := 0
		for _, s := range n.replicas[0].b.bb.steps {
			if c, ok := s.(*convStep); ok && c.l.algo == convWinograd {
				wino++
			}
		}
		if want := map[bool]int{false: 13, true: 0}[noWino]; wino != want {
			t.Fatalf("noWinograd %v: %d Winograd convolutions, want %d", noWino, wino, want)
		}
		losses[i], grads[i] = netLoss(t, n, views)
		n.close()
	}
	if math.Abs(losses[0]-losses[1]) > 1e-5 {
		t.Errorf("loss %v with Winograd, %v without", losses[0], losses[1])
	}
	for p := range grads[0] {
		var diff, norm float64
		for j, v := range grads[1][p] {
			d := float64(grads[0][p][j] - v)
			diff += d * d
			norm += float64(v) * float64(v)
		}
		if math.Sqrt(diff) > 2e-4*math.Sqrt(norm)+1e-5 { // some gradients are zero but for rounding
			t.Errorf("parameter %d: gradient differs by %.3g (norm %.3g)", p, math.Sqrt(diff), math.Sqrt(norm))
		}
	}
}
