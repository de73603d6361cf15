//go:build cgo

package trainer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/natssl/natssl/trainer/cuda"
	"github.com/natssl/natssl/trainer/cuda/cudatest"
)

// opCheck holds one op of the CUDA backend to the CPU backend on random inputs: forward
// and backward, within tol of the largest value (the GPU sums in other orders: its
// convolutions are im2col and cuBLAS products where the CPU's may be Winograd's).
type opCheck struct {
	name string
	run  func(t *testing.T, tg backendTarget, rng *rand.Rand, tol float64)
}

// runOpChecks runs every op check on tg, each with a seed of its own.
func runOpChecks(t *testing.T, tg backendTarget, tol float64) {
	for i, c := range opChecks {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, tg, rand.New(rand.NewPCG(uint64(i)+1, 7)), tol)
		})
	}
}

// TestCUDAOpsOnHost runs every op check on the host simulation, with GPU blocks small
// enough that convolutions cross block edges, and checks that every kernel the source
// defines was launched.
func TestCUDAOpsOnHost(t *testing.T) {
	tg := simTarget(t)
	defer func(f int) { gpuColFloats = f }(gpuColFloats)
	gpuColFloats = 300
	runOpChecks(t, tg, 1e-5)
	t.Run("optimizers", func(t *testing.T) { checkOptimizers(t, tg, rand.New(rand.NewPCG(40, 1)), 1e-6) })
	if t.Failed() {
		return
	}
	tg.sim.mu.Lock()
	defer tg.sim.mu.Unlock()
	var missed []string
	for _, k := range cuda.KernelNames() {
		if !tg.sim.launched[k] {
			missed = append(missed, k)
		}
	}
	if len(missed) > 0 {
		t.Errorf("kernels no check launches: %s", strings.Join(missed, ", "))
	}
}

// TestGPUOps runs every op check on cuda:0 against the CPU backend, within 1e-4.
func TestGPUOps(t *testing.T) {
	tg := gpuTarget(t)
	runOpChecks(t, tg, 1e-4)
	t.Run("optimizers", func(t *testing.T) { checkOptimizers(t, tg, rand.New(rand.NewPCG(40, 1)), 1e-4) })
}

var opChecks = []opCheck{
	{"convolution", checkConv},
	{"batch norm", checkBN},
	{"max pool", func(t *testing.T, tg backendTarget, rng *rand.Rand, tol float64) {
		g := newConvGeom(2, 9, 8, 5, 5, 3, 2, 1)
		x := randSlice(rng, g.n*g.h*g.w*g.c)
		for i := 0; i < g.h*g.w*g.c; i += g.c {
			x[i] = 0.5 // ties in every window of the first image's first channel
		}
		y := make([]float32, g.outPixels()*g.c)
		dy := randSlice(rng, len(y))
		dx := randSlice(rng, len(x)) // the gradient is added to what is there
		b := tg.backend(t)
		b.step(&maxPoolStep{g: g})
		if err := b.built(nil); err != nil {
			t.Fatal(err)
		}
		mx, my, mdy, mdx := put(t, b, x), b.alloc(len(y)), put(t, b, dy), put(t, b, dx)
		b.maxPool(g, mx, my)
		cpuBackend{}.maxPool(g, hostMem(x), hostMem(y))
		b.maxPoolBack(g, mx, my, mdy, mdx)
		cpuBackend{}.maxPoolBack(g, hostMem(x), hostMem(y), hostMem(dy), hostMem(dx))
		cudatest.Near(t, "y", get(t, b, my), y, 0)
		cudatest.Near(t, "dx", get(t, b, mdx), dx, tol)
	}},
	{"average pool", func(t *testing.T, tg backendTarget, rng *rand.Rand, tol float64) {
		n, hw, c := 3, 49, 7
		x, dout := randSlice(rng, n*hw*c), randSlice(rng, n*c)
		out, dx := make([]float32, n*c), make([]float32, n*hw*c)
		b := tg.backend(t)
		mout, mdx := b.alloc(len(out)), b.alloc(len(dx))
		b.avgPool(put(t, b, x), mout, n, hw, c)
		b.avgPoolBack(put(t, b, dout), mdx, n, hw, c)
		cpuBackend{}.avgPool(hostMem(x), hostMem(out), n, hw, c)
		cpuBackend{}.avgPoolBack(hostMem(dout), hostMem(dx), n, hw, c)
		cudatest.Near(t, "out", get(t, b, mout), out, tol)
		cudatest.Near(t, "dx", get(t, b, mdx), dx, tol)
	}},
	{"input layout, sum, ReLU mask, zero", func(t *testing.T, tg backendTarget, rng *rand.Rand, _ float64) {
		n, c, hw := 3, 3, 20
		x := randSlice(rng, n*c*hw)
		y := make([]float32, len(x))
		b := tg.backend(t)
		my := b.alloc(len(y))
		b.toNHWC(put(t, b, x), my, n, c, hw)
		cpuBackend{}.toNHWC(hostMem(x), hostMem(y), n, c, hw)
		cudatest.Near(t, "channels-last", get(t, b, my), y, 0)
		d, s := randSlice(rng, 1001), randSlice(rng, 1001)
		s[0], s[1] = 0, float32(math.Copysign(0, -1))
		md := put(t, b, d)
		b.add(md, put(t, b, s))
		cpuBackend{}.add(hostMem(d), hostMem(s))
		cudatest.Near(t, "sum", get(t, b, md), d, 0)
		b.reluMask(md, put(t, b, s))
		cpuBackend{}.reluMask(hostMem(d), hostMem(s))
		cudatest.Near(t, "ReLU mask", get(t, b, md), d, 0)
		b.zero(md)
		cudatest.Near(t, "zero", get(t, b, md), make([]float32, len(d)), 0)
	}},
	{"ReLU, copy, EMA", func(t *testing.T, tg backendTarget, rng *rand.Rand, _ float64) {
		x, dy := randSlice(rng, 1001), randSlice(rng, 1001)
		x[0], x[1], x[2] = 0, float32(math.Copysign(0, -1)), float32(math.NaN())
		y, dx := make([]float32, len(x)), make([]float32, len(x))
		b := tg.backend(t)
		my, mdx := b.alloc(len(y)), b.alloc(len(dx))
		b.relu(put(t, b, x), my)
		cpuBackend{}.relu(hostMem(x), hostMem(y))
		cudatest.Near(t, "ReLU", get(t, b, my), y, 0)
		b.copy(mdx, put(t, b, dy))
		copy(dx, dy)
		cudatest.Near(t, "copy", get(t, b, mdx), dx, 0)
		tw, ow := randSlice(rng, 1001), randSlice(rng, 1001)
		mt := put(t, b, tw)
		a, c := emaCoeffs(0.996)
		if err := cuda.EMA(b.q, mt.dp(), put(t, b, ow).dp(), a, c, len(tw)); err != nil {
			t.Fatal(err)
		}
		emaStep(tw, ow, a, c)
		cudatest.Near(t, "EMA", get(t, b, mt), tw, 0)
	}},
	{"linear", func(t *testing.T, tg backendTarget, rng *rand.Rand, tol float64) {
		n, in, out := 6, 7, 5
		x, w, bias, dy := randSlice(rng, n*in), randSlice(rng, in*out), randSlice(rng, out), randSlice(rng, n*out)
		b := tg.backend(t)
		mx, mw, mdy := put(t, b, x), put(t, b, w), put(t, b, dy)
		for _, c := range []struct {
			name           string
			ta, tb         bool
			m, nn, k       int
			a, bm          []float32
			ma, mb         mem
			lda, ldb, ldc  int
			beta           float32
			bias, sumFirst bool
		}{
			{"y = x·w + b", false, false, n, out, in, x, w, mx, mw, in, out, out, 1, true, false},
			{"dx = dy·wᵀ", false, true, n, in, out, dy, w, mdy, mw, out, out, in, 0, false, false},
			{"dw = xᵀ·dy", true, false, in, out, n, x, dy, mx, mdy, in, out, out, 0, false, false},
		} {
			want := make([]float32, c.m*c.ldc)
			mc := b.alloc(len(want))
			if c.bias {
				b.biasRows(mc, put(t, b, bias), c.m, c.ldc)
				cpuBackend{}.biasRows(hostMem(want), hostMem(bias), c.m, c.ldc)
			}
			b.gemm(c.ta, c.tb, c.m, c.nn, c.k, c.ma, c.lda, c.mb, c.ldb, c.beta, mc, c.ldc)
			cpuBackend{}.gemm(c.ta, c.tb, c.m, c.nn, c.k, hostMem(c.a), c.lda, hostMem(c.bm), c.ldb, c.beta, hostMem(want), c.ldc)
			cudatest.Near(t, c.name, get(t, b, mc), want, tol)
		}
		db, mdb := make([]float32, out), b.alloc(out)
		b.sumRows(mdy, mdb, n, out)
		cpuBackend{}.sumRows(hostMem(dy), hostMem(db), n, out)
		cudatest.Near(t, "db", get(t, b, mdb), db, 0)
	}},
}

// checkConv compares the convolutions of the encoders' shapes: the stems (no input
// gradient), 3×3 at strides 1 and 2, pointwise, the strided 1×1 shortcut, and a 3×3 wide
// enough for the CPU's Winograd path.
func checkConv(t *testing.T, tg backendTarget, rng *rand.Rand, tol float64) {
	for _, c := range []struct {
		n, c, h, w, o, k, s, p int
		noDX                   bool
	}{
		{2, 3, 8, 8, 4, 3, 1, 1, true},
		{1, 3, 13, 11, 4, 7, 2, 3, true},
		{2, 3, 9, 9, 4, 3, 2, 1, false},
		{2, 4, 6, 7, 5, 1, 1, 0, false},
		{2, 4, 6, 6, 5, 1, 2, 0, false},
		{3, 17, 7, 10, 9, 3, 1, 1, false},
	} {
		t.Run(fmt.Sprintf("%dx%d/%d pad %d, %d→%d", c.k, c.k, c.s, c.p, c.c, c.o), func(t *testing.T) {
			g := newConvGeom(c.n, c.h, c.w, c.c, c.o, c.k, c.s, c.p)
			x, w := randSlice(rng, c.n*c.h*c.w*c.c), randSlice(rng, c.o*c.c*c.k*c.k)
			dy := randSlice(rng, g.outPixels()*c.o)
			dx := randSlice(rng, len(x)) // the gradient is added to what is there
			y, dw := make([]float32, len(dy)), make([]float32, len(w))

			b := tg.backend(t)
			l := newConvLayer(g, c.noDX, false, nil)
			b.step(&convStep{l: l})
			if err := b.built(nil); err != nil {
				t.Fatal(err)
			}
			mx, mw, mdy, mdx := put(t, b, x), put(t, b, w), put(t, b, dy), put(t, b, dx)
			my, mdw := b.alloc(len(y)), b.alloc(len(w))
			b.conv(l, mx, mw, my)
			if c.noDX {
				mdx = mem{}
			}
			b.convBack(l, mx, mw, mdy, mdx, mdw)

			cl := newConvLayer(g, c.noDX, true, &convScratch{})
			cpuBackend{}.conv(cl, hostMem(x), hostMem(w), hostMem(y))
			hdx := hostMem(dx)
			if c.noDX {
				hdx = mem{}
			}
			cpuBackend{}.convBack(cl, hostMem(x), hostMem(w), hostMem(dy), hdx, hostMem(dw))
			cudatest.Near(t, "y", get(t, b, my), y, tol)
			cudatest.Near(t, "dw", get(t, b, mdw), dw, tol)
			if !c.noDX {
				cudatest.Near(t, "dx", get(t, b, mdx), dx, tol)
			}
		})
	}
}

// checkBN compares batch norm in its three modes, with and without ReLU and a residual, on
// a backbone's activation (statistics in chunks of a plane) and on the head's (chunks of
// one row): the output, the running statistics, the recomputed output and the gradients.
func checkBN(t *testing.T, tg backendTarget, rng *rand.Rand, tol float64) {
	for _, c := range []struct {
		rows, c, chunk int
		relu, residual bool
		mode           bnMode
	}{
		{4 * 25, 3, 25, true, false, bnTrain},
		{4 * 25, 3, 25, false, false, bnTrain},
		{4 * 25, 6, 25, true, true, bnTrain},
		{16, 9, 1, true, false, bnTrain},
		{4 * 25, 3, 25, true, false, bnEval},
		{3 * 9, 2, 9, true, true, bnAffine},
		{2 * 300, 3, 300, true, false, bnTrain}, // more rows than a block has threads
	} {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			x := randSlice(rng, c.rows*c.c)
			for i := range x {
				x[i] = 2*x[i] + 0.5
			}
			gamma, beta := randSlice(rng, c.c), randSlice(rng, c.c)
			mean, vr := randSlice(rng, c.c), make([]float32, c.c)
			for i := range vr {
				vr[i] = 0.5 + rng.Float32()
			}
			var res []float32
			if c.residual {
				res = randSlice(rng, len(x))
			}
			dy := randSlice(rng, len(x))

			cl := newBNLayer(c.rows, c.c, c.chunk, c.relu, c.residual, c.mode)
			copy(cl.mean, mean)
			copy(cl.vr, vr)
			y, dx := make([]float32, len(x)), make([]float32, len(x))
			dg, db := make([]float32, c.c), make([]float32, c.c)
			cpuBackend{}.bn(cl, hostMem(x), hostMem(gamma), hostMem(beta), hostMem(res), hostMem(y))
			cdy := append([]float32(nil), dy...)
			if c.residual && c.relu {
				cpuBackend{}.reluMask(hostMem(cdy), hostMem(y))
			}
			cpuBackend{}.bnBack(cl, hostMem(x), hostMem(gamma), hostMem(cdy), hostMem(dx), hostMem(dg), hostMem(db))

			b := tg.backend(t)
			l := newBNLayer(c.rows, c.c, c.chunk, c.relu, c.residual, c.mode)
			b.bnLayer(l)
			if err := b.built([]*bnLayer{l}); err != nil {
				t.Fatal(err)
			}
			copy(l.mean, mean)
			copy(l.vr, vr)
			if err := b.q.sync(); err != nil {
				t.Fatal(err)
			}
			if err := b.q.sideUpload(b.stats.dp(), b.statsHost); err != nil {
				t.Fatal(err)
			}
			mx, mg, mb := put(t, b, x), put(t, b, gamma), put(t, b, beta)
			var mres mem
			if c.residual {
				mres = put(t, b, res)
			}
			my, mdy, mdx := b.alloc(len(x)), put(t, b, dy), b.alloc(len(x))
			mdg, mdb := b.alloc(c.c), b.alloc(c.c)
			b.bn(l, mx, mg, mb, mres, my)
			cudatest.Near(t, "y", get(t, b, my), y, tol)
			if err := b.q.sideDownload(b.statsHost, b.stats.dp()); err != nil {
				t.Fatal(err)
			}
			cudatest.Near(t, "running mean", l.mean, cl.mean, tol)
			cudatest.Near(t, "running variance", l.vr, cl.vr, tol)
			if !c.residual {
				mr := b.alloc(len(x))
				b.bnRecompute(l, mx, mr)
				cudatest.Near(t, "recomputed y", get(t, b, mr), get(t, b, my), 0)
			}
			if c.residual && c.relu {
				b.reluMask(mdy, my)
			}
			b.bnBack(l, mx, mg, mdy, mdx, mdg, mdb)
			cudatest.Near(t, "dγ", get(t, b, mdg), dg, tol)
			cudatest.Near(t, "dβ", get(t, b, mdb), db, tol)
			cudatest.Near(t, "dx", get(t, b, mdx), dx, tol)
		})
	}
}

// checkOptimizers takes three steps of each optimizer with the device kernels and with
// optim.go, on a weight (adapted and decayed) and a batch-norm scale (neither).
func checkOptimizers(t *testing.T, tg backendTarget, rng *rand.Rand, tol float64) {
	for _, kind := range []string{"sgd", "lars", "adamw"} {
		t.Run(kind, func(t *testing.T) {
			params := []*param{testParams(kindWeight, randSlice(rng, 70000)...)[0], testParams(kindBNScale, randSlice(rng, 33)...)[0]}
			grads := [][]float32{randSlice(rng, 70000), randSlice(rng, 33)}
			for _, g := range grads {
				for i := range g {
					g[i] *= 0.01
				}
			}
			host, err := newOptimizer(kind, 0.9, 1e-4, params)
			if err != nil {
				t.Fatal(err)
			}
			dev, _ := newOptimizer(kind, 0.9, 1e-4, params)
			b := tg.backend(t)
			ws, gs := make([]mem, len(params)), make([]mem, len(params))
			slots := map[string][]mem{}
			for i, p := range params {
				ws[i], gs[i] = put(t, b, p.data()), put(t, b, grads[i])
				for _, s := range slotNames(kind) {
					slots[s] = append(slots[s], b.alloc(len(p.data())))
				}
			}
			lars := b.alloc(cuda.LARSScratchFloats)
			for step := 0; step < 3; step++ {
				dev.t++
				for i, p := range params {
					if err := dev.stepOnDevice(b.q, p, ws[i], gs[i], slots, i, lars, 0.3); err != nil {
						t.Fatal(err)
					}
				}
				host.step(params, grads, 0.3)
			}
			for i, p := range params {
				cudatest.Near(t, fmt.Sprintf("%s w", p.name), get(t, b, ws[i]), p.data(), tol)
				for _, s := range slotNames(kind) {
					cudatest.Near(t, fmt.Sprintf("%s %s", p.name, s), get(t, b, slots[s][i]), host.slots[s][i], tol)
				}
			}
		})
	}
}

// TestCUDAKernelsMatchGo: on the host simulation, which rounds every operation as Go does,
// the kernels that move data or compute elementwise give the bits of the trainer's Go
// references (im2col.go, kernels.go).
func TestCUDAKernelsMatchGo(t *testing.T) {
	if !refUnfused {
		t.Skip("the Go compiler fuses multiply-adds on this target: the references round differently")
	}
	tg := simTarget(t)
	rng := rand.New(rand.NewPCG(3, 4))
	g := newConvGeom(2, 7, 10, 19, 21, 3, 2, 1)
	cg := geomOf(g)
	b := tg.backend(t)
	q := b.q
	x := randSlice(rng, g.n*g.h*g.w*g.c)
	mx := put(t, b, x)
	kc, rows := g.colWidth(), g.outPixels()
	check := func(name string, err error, got mem, want []float32) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		cudatest.Near(t, name, get(t, b, got), want, 0)
	}
	for _, blk := range [][2]int{{0, rows}, {11, 23}} { // a block that starts and ends mid-image
		r0, nr := blk[0], blk[1]
		col := make([]float32, nr*kc)
		im2colGo(x, col, g, r0, nr)
		mcol := b.alloc(len(col))
		check(fmt.Sprintf("im2col rows %d+%d", r0, nr), cuda.Im2col(q, cg, mx.dp(), mcol.dp(), r0, nr), mcol, col)
		dcol := randSlice(rng, nr*kc)
		dx := randSlice(rng, len(x))
		mdx := put(t, b, dx)
		col2imGo(dcol, dx, g, r0, nr)
		check(fmt.Sprintf("col2im rows %d+%d", r0, nr), cuda.Col2im(q, cg, put(t, b, dcol).dp(), mdx.dp(), r0, nr), mdx, dx)
	}
	s := newConvGeom(2, 7, 10, 19, 21, 1, 2, 0)
	sub := make([]float32, 9*s.c)
	subsample(x, sub, s, 5, 9)
	msub := b.alloc(len(sub))
	check("subsample", cuda.Subsample(q, geomOf(s), mx.dp(), msub.dp(), 5, 9), msub, sub)
	dx := randSlice(rng, len(x))
	mdx := put(t, b, dx)
	subsampleBack(sub, dx, s, 5, 9)
	check("subsample back", cuda.SubsampleBack(q, geomOf(s), msub.dp(), mdx.dp(), 5, 9), mdx, dx)
	w := randSlice(rng, g.o*g.c*9)
	wk, back := make([]float32, len(w)), make([]float32, len(w))
	weightsKCOGo(w, wk, g)
	weightsKCOBackGo(wk, back, g)
	mwk, mback := b.alloc(len(w)), b.alloc(len(w))
	check("weights layout", cuda.WeightsKCO(q, cg, put(t, b, w).dp(), mwk.dp()), mwk, wk)
	check("weights layout back", cuda.WeightsKCOBack(q, cg, mwk.dp(), mback.dp()), mback, back)

	// Batch norm's apply pass with a given map, and its statistics through the layer: the
	// CPU kernels of this build may fuse (C), the Go references do not.
	c, chunk := g.c, g.h*g.w
	n := g.n * chunk
	scale, shift, res := randSlice(rng, c), randSlice(rng, c), randSlice(rng, len(x))
	y := make([]float32, len(x))
	bnApplyGo(x, y, res, n, c, scale, shift, true)
	bn := &cuda.BN{Rows: n, C: c, Chunk: chunk, ReLU: true, Residual: true}
	bn.SetState(b.alloc(cuda.BNStateFloats(c) + 1).dp())
	if err := b.q.sync(); err != nil {
		t.Fatal(err)
	}
	b.hostWrite(mem{d: uint64(bn.Scale), n: c}, scale)
	b.hostWrite(mem{d: uint64(bn.Shift), n: c}, shift)
	my := b.alloc(len(x))
	check("bn apply", bn.Apply(q, mx.dp(), put(t, b, res).dp(), my.dp()), my, y)
	s1 := make([]float64, c)
	chanSumsGo(x, n, c, chunk, nil, false, s1)
	bmean := make([]float32, c)
	for i, v := range s1 {
		bmean[i] = float32(v / float64(n))
	}
	bn.Partial = b.alloc(bn.PartialFloats()).dp()
	bn.RunMean, bn.RunVar = b.alloc(c).dp(), b.alloc(c).dp()
	check("bn batch mean", bn.ForwardTrain(q, mx.dp(), put(t, b, scale).dp(), put(t, b, shift).dp(), 0, my.dp(), 0.9, 0.1, 1e-5),
		mem{d: uint64(bn.Mean), n: c}, bmean)
}
