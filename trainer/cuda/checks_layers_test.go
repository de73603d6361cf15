package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// windows are convolution and pooling shapes that cover strides, padding, a kernel larger
// than the padding and non-square images.
var windows = []Window{
	{N: 2, C: 3, H: 7, W: 6, K: 3, Stride: 1, Pad: 1},
	{N: 2, C: 2, H: 9, W: 8, K: 3, Stride: 2, Pad: 1},
	{N: 1, C: 3, H: 11, W: 11, K: 7, Stride: 2, Pad: 3},
	{N: 3, C: 4, H: 5, W: 5, K: 1, Stride: 2, Pad: 0},
	{N: 1, C: 2, H: 6, W: 7, K: 3, Stride: 3, Pad: 2},
}

// layerChecks: the convolution, pooling and elementwise ops.
var layerChecks = []opCheck{
	{"im2col", func(t *testing.T, b backend, rng *rand.Rand) {
		for _, g := range windows {
			x := randVec(rng, g.N*g.C*g.H*g.W, 1)
			col := b.alloc(t, g.ColRows()*g.ColCols())
			if err := Im2col(b, g, put(t, b, x), col); err != nil {
				t.Fatal(err)
			}
			same(t, b, fmt.Sprintf("im2col %+v", g), b.download(t, col, g.ColRows()*g.ColCols()), refIm2col(g, x), true)
		}
	}},
	{"col2im", func(t *testing.T, b backend, rng *rand.Rand) {
		for _, g := range windows {
			dcol := randVec(rng, g.ColRows()*g.ColCols(), 1)
			n := g.N * g.C * g.H * g.W
			dx := b.alloc(t, n)
			if err := Col2im(b, g, put(t, b, dcol), dx); err != nil {
				t.Fatal(err)
			}
			same(t, b, fmt.Sprintf("col2im %+v", g), b.download(t, dx, n), refCol2im(g, dcol), true)
		}
	}},
	{"conv forward (im2col, sgemm, cn_to_nchw)", func(t *testing.T, b backend, rng *rand.Rand) {
		for _, g := range windows {
			o := 5
			x, w := randVec(rng, g.N*g.C*g.H*g.W, 1), randVec(rng, o*g.ColRows(), 1)
			rows, cols := g.ColRows(), g.ColCols()
			col, out2, y := b.alloc(t, rows*cols), b.alloc(t, o*cols), b.alloc(t, o*cols)
			if err := Im2col(b, g, put(t, b, x), col); err != nil {
				t.Fatal(err)
			}
			if err := b.gemm().SgemmRowMajor(false, false, o, cols, rows, 1, put(t, b, w), rows, col, cols, 0, out2, cols); err != nil {
				t.Fatal(err)
			}
			if err := CNToNCHW(b, g.N, o, g.OH()*g.OW(), out2, y); err != nil {
				t.Fatal(err)
			}
			same(t, b, fmt.Sprintf("conv %+v", g), b.download(t, y, o*cols), refConv(g, o, x, w), false)
		}
	}},
	{"layout round trip (nchw_to_cn, cn_to_nchw)", func(t *testing.T, b backend, rng *rand.Rand) {
		n, c, hw := 3, 4, 5
		x := randVec(rng, n*c*hw, 1)
		want := make([]float32, len(x))
		for img := 0; img < n; img++ {
			for ch := 0; ch < c; ch++ {
				copy(want[ch*n*hw+img*hw:][:hw], x[(img*c+ch)*hw:][:hw]) // convOp.dyMatrix
			}
		}
		cn, back := b.alloc(t, len(x)), b.alloc(t, len(x))
		if err := NCHWToCN(b, n, c, hw, put(t, b, x), cn); err != nil {
			t.Fatal(err)
		}
		same(t, b, "nchw_to_cn", b.download(t, cn, len(x)), want, true)
		if err := CNToNCHW(b, n, c, hw, cn, back); err != nil {
			t.Fatal(err)
		}
		same(t, b, "cn_to_nchw", b.download(t, back, len(x)), x, true)
	}},
	{"maxpool", func(t *testing.T, b backend, rng *rand.Rand) {
		for _, g := range append(windows, Window{N: 2, C: 3, H: 12, W: 12, K: 3, Stride: 2, Pad: 1}) {
			x := randVec(rng, g.N*g.C*g.H*g.W, 1)
			for i := range g.H * g.W {
				x[i] = 0.5 // ties in every window of the first plane: the first maximum wins
			}
			no := g.N * g.C * g.OH() * g.OW()
			y, mask, dx := b.alloc(t, no), b.alloc(t, no), b.alloc(t, len(x))
			if err := MaxPool(b, g, put(t, b, x), y, mask); err != nil {
				t.Fatal(err)
			}
			wy, wmask := refMaxPool(g, x)
			same(t, b, fmt.Sprintf("maxpool %+v", g), b.download(t, y, no), wy, true)
			gotMask := b.downloadInt32(t, mask, no)
			for i := range wmask {
				if gotMask[i] != wmask[i] {
					t.Fatalf("maxpool %+v: mask[%d] = %d, want %d", g, i, gotMask[i], wmask[i])
				}
			}
			dy := randVec(rng, no, 1)
			if err := MaxPoolBackward(b, g, put(t, b, dy), mask, dx); err != nil {
				t.Fatal(err)
			}
			same(t, b, fmt.Sprintf("maxpool backward %+v", g), b.download(t, dx, len(x)), refMaxPoolBwd(g, dy, wmask), true)
		}
	}},
	{"avgpool", func(t *testing.T, b backend, rng *rand.Rand) {
		nc, hw := 12, 49
		x := randVec(rng, nc*hw, 1)
		y, dx := b.alloc(t, nc), b.alloc(t, nc*hw)
		if err := AvgPool(b, put(t, b, x), y, nc, hw); err != nil {
			t.Fatal(err)
		}
		same(t, b, "avgpool", b.download(t, y, nc), refAvgPool(x, nc, hw), true)
		dy := randVec(rng, nc, 1)
		if err := AvgPoolBackward(b, put(t, b, dy), dx, nc, hw); err != nil {
			t.Fatal(err)
		}
		same(t, b, "avgpool backward", b.download(t, dx, nc*hw), refAvgPoolBwd(dy, hw), true)
	}},
	{"relu, add, add_relu", func(t *testing.T, b backend, rng *rand.Rand) {
		n := 3001
		x, a, dy := randVec(rng, n, 1), randVec(rng, n, 1), randVec(rng, n, 1)
		x[0], x[1] = 0, float32(math.Copysign(0, -1))
		px, pa, pdy := put(t, b, x), put(t, b, a), put(t, b, dy)
		y, dx, s := b.alloc(t, n), b.alloc(t, n), b.alloc(t, n)
		relu := func(v float32) float32 { // Gorgonia: x·[x ≥ 0]
			if v >= 0 {
				return v
			}
			return v * 0
		}
		wantY, wantDX, wantS, wantAR := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range x {
			wantY[i] = relu(x[i])
			if x[i] >= 0 {
				wantDX[i] = dy[i]
			}
			wantS[i] = x[i] + a[i]
			wantAR[i] = relu(wantS[i])
		}
		if err := ReLU(b, px, y, n); err != nil {
			t.Fatal(err)
		}
		same(t, b, "relu", b.download(t, y, n), wantY, true)
		if err := ReLUBackward(b, px, pdy, dx, n); err != nil {
			t.Fatal(err)
		}
		same(t, b, "relu backward", b.download(t, dx, n), wantDX, true)
		if err := Add(b, px, pa, s, n); err != nil {
			t.Fatal(err)
		}
		same(t, b, "add", b.download(t, s, n), wantS, true)
		if err := AddReLU(b, px, pa, s, y, n); err != nil {
			t.Fatal(err)
		}
		same(t, b, "add_relu sum", b.download(t, s, n), wantS, true)
		same(t, b, "add_relu", b.download(t, y, n), wantAR, true)
	}},
	{"scale, axpy, fill", func(t *testing.T, b backend, rng *rand.Rand) {
		n := 1000
		x, y := randVec(rng, n, 1), randVec(rng, n, 1)
		px, py := put(t, b, x), put(t, b, y)
		want := make([]float32, n)
		for i := range y {
			want[i] = y[i] + x[i] // net.step: summed replica gradients
		}
		if err := Axpy(b, py, px, 1, n); err != nil {
			t.Fatal(err)
		}
		same(t, b, "axpy", b.download(t, py, n), want, true)
		for i := range want {
			want[i] = x[i] * 0.5
		}
		if err := Scale(b, px, 0.5, n); err != nil {
			t.Fatal(err)
		}
		same(t, b, "scale", b.download(t, px, n), want, true)
		if err := Fill(b, px, 3, n); err != nil {
			t.Fatal(err)
		}
		for i := range want {
			want[i] = 3
		}
		same(t, b, "fill", b.download(t, px, n), want, true)
	}},
	{"linear (bias_rows, sgemm, sum_rows)", func(t *testing.T, b backend, rng *rand.Rand) {
		n, in, out := 6, 7, 5
		x, w, bias := randVec(rng, n*in, 1), randVec(rng, in*out, 1), randVec(rng, out, 1)
		y := b.alloc(t, n*out)
		if err := BiasRows(b, y, put(t, b, bias), n, out); err != nil {
			t.Fatal(err)
		}
		if err := b.gemm().SgemmRowMajor(false, false, n, out, in, 1, put(t, b, x), in, put(t, b, w), out, 1, y, out); err != nil {
			t.Fatal(err)
		}
		want := make([]float32, n*out)
		for i := 0; i < n; i++ {
			for j := 0; j < out; j++ {
				s := float64(bias[j])
				for k := 0; k < in; k++ {
					s += float64(x[i*in+k]) * float64(w[k*out+j])
				}
				want[i*out+j] = float32(s)
			}
		}
		same(t, b, "linear", b.download(t, y, n*out), want, false)
		dy := randVec(rng, n*out, 1)
		db := b.alloc(t, out)
		if err := SumRows(b, put(t, b, dy), db, n, out); err != nil {
			t.Fatal(err)
		}
		wantDB := make([]float32, out) // linearGradOp, wrt 2
		for i := 0; i < n; i++ {
			for j := 0; j < out; j++ {
				wantDB[j] += dy[i*out+j]
			}
		}
		same(t, b, "sum_rows", b.download(t, db, out), wantDB, true)
	}},
}
