package cuda

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// stepChecks: batch norm, the loss and the optimizers.
var stepChecks = []opCheck{
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
