package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// backend is where an op check runs: the host simulation, or a GPU (gpu_test.go). The
// checks below are the same for both.
type backend interface {
	Runner
	name() string
	alloc(t *testing.T, n int) DevicePtr // n floats, zeroed
	upload(t *testing.T, p DevicePtr, x []float32)
	download(t *testing.T, p DevicePtr, n int) []float32
	downloadInt32(t *testing.T, p DevicePtr, n int) []int32
	gemm() Gemm
	// exact: the backend rounds as the CPU does, so ops that claim to reproduce the CPU
	// op bit for bit are compared exactly.
	exact() bool
}

// tol is the relative tolerance of every comparison that is not exact: the bound the GPU
// checks are held to.
const tol = 1e-4

func randVec(rng *rand.Rand, n int, scale float32) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = (rng.Float32()*2 - 1) * scale
	}
	return x
}

// put allocates device memory holding x.
func put(t *testing.T, b backend, x []float32) DevicePtr {
	t.Helper()
	p := b.alloc(t, len(x))
	b.upload(t, p, x)
	return p
}

// same compares got with want: exactly when the op claims to round as the CPU op does
// (exact) and b and the references round every operation separately, else within tol of
// want's largest magnitude (a relative bound that elements near zero cannot fail by
// themselves).
func same(t *testing.T, b backend, what string, got, want []float32, exact bool) {
	t.Helper()
	exact = exact && b.exact() && refUnfused
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var scale float64
	for _, w := range want {
		scale = math.Max(scale, math.Abs(float64(w)))
	}
	scale = math.Max(scale, 1e-30)
	worst, at := 0.0, -1
	for i := range got {
		if exact {
			if got[i] != want[i] && !(got[i] == 0 && want[i] == 0) {
				t.Fatalf("%s: [%d] = %v, want exactly %v", what, i, got[i], want[i])
			}
			continue
		}
		e := math.Abs(float64(got[i])-float64(want[i])) / scale
		if math.IsNaN(e) || e > worst {
			worst, at = e, i
		}
	}
	if at >= 0 && (worst > tol || math.IsNaN(worst)) {
		t.Fatalf("%s: [%d] = %v, want %v (error %.3g of the largest |want| %.3g, tolerance %g)",
			what, at, got[at], want[at], worst, scale, tol)
	}
}

// opCheck is one op against its reference.
type opCheck struct {
	name string
	run  func(t *testing.T, b backend, rng *rand.Rand)
}

// windows are convolution and pooling shapes that cover strides, padding, a kernel larger
// than the padding and non-square images.
var windows = []Window{
	{N: 2, C: 3, H: 7, W: 6, K: 3, Stride: 1, Pad: 1},
	{N: 2, C: 2, H: 9, W: 8, K: 3, Stride: 2, Pad: 1},
	{N: 1, C: 3, H: 11, W: 11, K: 7, Stride: 2, Pad: 3},
	{N: 3, C: 4, H: 5, W: 5, K: 1, Stride: 2, Pad: 0},
	{N: 1, C: 2, H: 6, W: 7, K: 3, Stride: 3, Pad: 2},
}

var opChecks = []opCheck{
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
	{"batchnorm", func(t *testing.T, b backend, rng *rand.Rand) {
		for _, c := range []struct {
			n, c, hw            int
			relu, train, affine bool
		}{
			{4, 3, 25, true, true, false},
			{4, 3, 25, false, true, false},
			{8, 5, 1, true, true, false}, // after a linear layer
			{4, 3, 25, true, false, false},
			{3, 2, 9, false, false, true},
			{2, 3, 300, true, true, false}, // more elements than a block's threads
		} {
			name := fmt.Sprintf("bn %+v", c)
			size := c.n * c.c * c.hw
			x := randVec(rng, size, 2)
			for i := range x {
				x[i] += 0.5
			}
			gamma, beta := randVec(rng, c.c, 1), randVec(rng, c.c, 0.5)
			ref := &refBN{n: c.n, c: c.c, hw: c.hw, relu: c.relu, train: c.train, affine: c.affine,
				mean: randVec(rng, c.c, 0.1), vr: make([]float32, c.c)}
			for i := range ref.vr {
				ref.vr[i] = 0.5 + rng.Float32()
			}
			bn := BN{N: c.n, C: c.c, HW: c.hw, ReLU: c.relu, Gamma: put(t, b, gamma), Beta: put(t, b, beta),
				RunMean: put(t, b, ref.mean), RunVar: put(t, b, ref.vr), Mean: b.alloc(t, c.c), IStd: b.alloc(t, c.c),
				XHat: b.alloc(t, size)}
			px, y := put(t, b, x), b.alloc(t, size)
			var err error
			switch {
			case c.affine:
				err = bn.ForwardAffine(b, px, y)
			case c.train:
				err = bn.ForwardTrain(b, px, y, refBNMomentum, refBNEpsilon)
			default:
				err = bn.ForwardEval(b, px, y, refBNEpsilon)
			}
			if err != nil {
				t.Fatal(err)
			}
			wantY := ref.forward(x, gamma, beta)
			// Batch statistics are summed in double on the device, by plane in float32 on
			// the CPU: equal within the tolerance, not bit for bit.
			exact := !c.train || c.affine
			same(t, b, name+" y", b.download(t, y, size), wantY, exact)
			same(t, b, name+" x̂", b.download(t, bn.XHat, size), ref.xhat, exact)
			same(t, b, name+" running mean", b.download(t, bn.RunMean, c.c), ref.mean, exact)
			same(t, b, name+" running var", b.download(t, bn.RunVar, c.c), ref.vr, exact)
			dy := randVec(rng, size, 1)
			dx, dg, db := b.alloc(t, size), b.alloc(t, c.c), b.alloc(t, c.c)
			if err := bn.Backward(b, put(t, b, dy), dx, dg, db, c.train && !c.affine); err != nil {
				t.Fatal(err)
			}
			// The reference's backward starts from its own x̂; the device's from its own.
			wantDX, wantDG, wantDB := ref.backward(gamma, beta, dy)
			same(t, b, name+" dγ", b.download(t, dg, c.c), wantDG, false)
			same(t, b, name+" dβ", b.download(t, db, c.c), wantDB, false)
			same(t, b, name+" dx", b.download(t, dx, size), wantDX, false)
		}
	}},
	{"nt-xent", func(t *testing.T, b backend, rng *rand.Rand) {
		for _, c := range []struct {
			replicas, n, d int
			temp           float64
		}{{1, 4, 8, 0.5}, {2, 3, 16, 0.1}, {1, 40, 300, 0.2}} {
			m := 2 * c.replicas * c.n
			z := randVec(rng, m*c.d, 1)
			l, err := NewNTXent(m, c.d, c.n, c.temp, b.alloc(t, NTXentFloats(m, c.d)))
			if err != nil {
				t.Fatal(err)
			}
			dz := b.alloc(t, m*c.d)
			if err := l.Run(b, b.gemm(), put(t, b, z), dz); err != nil {
				t.Fatal(err)
			}
			wantLoss, wantDZ := refNTXent(z, m, c.d, c.n, c.temp)
			name := fmt.Sprintf("nt-xent %+v", c)
			same(t, b, name+" loss", b.download(t, l.Loss, 1), []float32{float32(wantLoss)}, false)
			same(t, b, name+" dz", b.download(t, dz, m*c.d), wantDZ, false)
		}
	}},
	{"sgd", func(t *testing.T, b backend, rng *rand.Rand) {
		for _, nesterov := range []bool{false, true} {
			n := 777
			w, g, buf := randVec(rng, n, 1), randVec(rng, n, 1), randVec(rng, n, 0.1)
			pw, pg, pb := put(t, b, w), put(t, b, g), put(t, b, buf)
			for step := 0; step < 3; step++ {
				refSGD(w, g, buf, 0.3, 1e-4, 0.9, nesterov)
				if err := SGD(b, pw, pg, pb, n, 0.3, 1e-4, 0.9, nesterov); err != nil {
					t.Fatal(err)
				}
			}
			same(t, b, fmt.Sprintf("sgd nesterov=%v w", nesterov), b.download(t, pw, n), w, true)
			same(t, b, fmt.Sprintf("sgd nesterov=%v momentum", nesterov), b.download(t, pb, n), buf, true)
		}
	}},
	{"adamw", func(t *testing.T, b backend, rng *rand.Rand) {
		n := 777
		w, g := randVec(rng, n, 1), randVec(rng, n, 1)
		m, v := make([]float32, n), make([]float32, n)
		pw, pg, pm, pv := put(t, b, w), put(t, b, g), put(t, b, m), put(t, b, v)
		for step := int64(1); step <= 3; step++ {
			refAdamW(w, g, m, v, step, 1e-3, 0.05)
			if err := AdamW(b, pw, pg, pm, pv, n, step, 1e-3, 0.05, refAdamBeta1, refAdamBeta2, refAdamEps); err != nil {
				t.Fatal(err)
			}
		}
		same(t, b, "adamw w", b.download(t, pw, n), w, false)
		same(t, b, "adamw m", b.download(t, pm, n), m, false)
		same(t, b, "adamw v", b.download(t, pv, n), v, false)
	}},
	{"lars", func(t *testing.T, b backend, rng *rand.Rand) {
		for _, c := range []struct {
			n     int
			adapt bool
		}{{777, true}, {70000, true}, {100, false}} { // 70000 spans every partial block
			w, g, buf := randVec(rng, c.n, 1), randVec(rng, c.n, 0.01), make([]float32, c.n)
			pw, pg, pb := put(t, b, w), put(t, b, g), put(t, b, buf)
			scratch := b.alloc(t, LARSScratchFloats)
			for step := 0; step < 3; step++ {
				refLARS(w, g, buf, 0.3, 1e-6, 0.9, c.adapt)
				if err := LARS(b, pw, pg, pb, c.n, 0.3, 1e-6, 0.9, refLARSEta, c.adapt, scratch); err != nil {
					t.Fatal(err)
				}
			}
			// The trust ratio's norms are summed in a different order: within the tolerance.
			same(t, b, fmt.Sprintf("lars %+v w", c), b.download(t, pw, c.n), w, !c.adapt)
			same(t, b, fmt.Sprintf("lars %+v momentum", c), b.download(t, pb, c.n), buf, !c.adapt)
		}
	}},
}

// runOpChecks runs every check on b, with a fixed seed per check.
func runOpChecks(t *testing.T, b backend) {
	for i, c := range opChecks {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, b, rand.New(rand.NewPCG(uint64(i)+1, 7)))
		})
	}
}

// hostGemm is the row-major product on the host simulation's memory, with gonum.
type hostGemm struct{ h *HostRunner }

func (g hostGemm) SgemmRowMajor(transA, transB bool, m, n, k int, alpha float32, a DevicePtr, lda int,
	bm DevicePtr, ldb int, beta float32, c DevicePtr, ldc int) error {
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	A, B, C := make([]float32, ar*lda), make([]float32, br*ldb), make([]float32, m*ldc)
	for _, x := range []struct {
		dst []float32
		p   DevicePtr
	}{{A, a}, {B, bm}, {C, c}} {
		if err := g.h.Download(x.dst, x.p); err != nil {
			return err
		}
	}
	tr := func(b bool) blas.Transpose {
		if b {
			return blas.Trans
		}
		return blas.NoTrans
	}
	blas32.Gemm(tr(transA), tr(transB), alpha,
		blas32.General{Rows: ar, Cols: ac, Stride: lda, Data: A},
		blas32.General{Rows: br, Cols: bc, Stride: ldb, Data: B}, beta,
		blas32.General{Rows: m, Cols: n, Stride: ldc, Data: C})
	return g.h.Upload(c, C)
}
