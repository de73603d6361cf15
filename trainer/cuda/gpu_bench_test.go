package cuda

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// Benchmarks of the GPU path (they skip where there is no GPU, as the GPU tests do):
//
//	./cuda.test -test.run '^$' -test.bench '^BenchmarkGPU' -test.benchtime 200x
//
// Each queues b.N launches and waits once, so the time per operation is the device's.

func benchSetup(b *testing.B) (*Device, *Stream, *BLAS) {
	b.Helper()
	dev := gpu(b)
	s, err := dev.NewStream()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	bl, err := s.NewBLAS()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bl.Close() })
	if _, err := dev.LoadKernels(); err != nil {
		b.Fatal(err)
	}
	return dev, s, bl
}

func benchAlloc(b *testing.B, dev *Device, s *Stream, n int) DevicePtr {
	b.Helper()
	p, err := dev.AllocFloats(n)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { dev.Free(p) })
	if err := s.Upload(p, randVec(rand.New(rand.NewPCG(uint64(n), 1)), n, 1)); err != nil {
		b.Fatal(err)
	}
	return p
}

func benchRun(b *testing.B, s *Stream, flops float64, f func() error) {
	b.Helper()
	b.ResetTimer()
	for range b.N {
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Synchronize(); err != nil {
		b.Fatal(err)
	}
	if flops > 0 {
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	}
}

func BenchmarkGPUSgemm(b *testing.B) {
	for _, n := range []int{1024, 4096} {
		for _, tf32 := range []bool{false, true} {
			b.Run(fmt.Sprintf("%d/tf32=%v", n, tf32), func(b *testing.B) {
				dev, s, bl := benchSetup(b)
				a, x, c := benchAlloc(b, dev, s, n*n), benchAlloc(b, dev, s, n*n), benchAlloc(b, dev, s, n*n)
				if err := bl.SetTF32(tf32); err != nil {
					b.Fatal(err)
				}
				benchRun(b, s, 2*float64(n)*float64(n)*float64(n), func() error {
					return bl.SgemmRowMajor(false, false, n, n, n, 1, a, n, x, n, 0, c, n)
				})
			})
		}
	}
}

// BenchmarkGPUConv is a forward convolution as the trainer's CUDA backend does it: the
// weights' layout, im2col and one product, at a ResNet-50 3×3 layer (batch 256, 56×56, 64
// channels, channels-last).
func BenchmarkGPUConv(b *testing.B) {
	dev, s, bl := benchSetup(b)
	g := Geom{N: 256, H: 56, W: 56, C: 64, O: 64, K: 3, S: 1, P: 1}
	rows, kc := g.Rows(), g.ColWidth()
	x, w := benchAlloc(b, dev, s, g.N*g.H*g.W*g.C), benchAlloc(b, dev, s, g.O*kc)
	wk, col, y := benchAlloc(b, dev, s, g.O*kc), benchAlloc(b, dev, s, rows*kc), benchAlloc(b, dev, s, rows*g.O)
	benchRun(b, s, 2*float64(g.O)*float64(rows)*float64(kc), func() error {
		if err := WeightsKCO(s, g, w, wk); err != nil {
			return err
		}
		if err := Im2col(s, g, x, col, 0, rows); err != nil {
			return err
		}
		return bl.SgemmRowMajor(false, false, rows, g.O, kc, 1, col, kc, wk, g.O, 0, y, g.O)
	})
}

// BenchmarkGPUBatchNorm is a training forward and backward pass with ReLU at the same layer.
func BenchmarkGPUBatchNorm(b *testing.B) {
	dev, s, _ := benchSetup(b)
	n, c, hw := 256, 64, 56*56
	size := n * c * hw
	bn := BN{Rows: n * hw, C: c, Chunk: hw, ReLU: true, RunMean: benchAlloc(b, dev, s, c), RunVar: benchAlloc(b, dev, s, c)}
	bn.SetState(benchAlloc(b, dev, s, BNStateFloats(c)))
	bn.Partial = benchAlloc(b, dev, s, bn.PartialFloats())
	gamma, beta := benchAlloc(b, dev, s, c), benchAlloc(b, dev, s, c)
	x, y, dx := benchAlloc(b, dev, s, size), benchAlloc(b, dev, s, size), benchAlloc(b, dev, s, size)
	dg, db := benchAlloc(b, dev, s, c), benchAlloc(b, dev, s, c)
	benchRun(b, s, 0, func() error {
		if err := bn.ForwardTrain(s, x, gamma, beta, 0, y, 0.9, 0.1, 1e-5); err != nil {
			return err
		}
		return bn.Backward(s, x, gamma, y, dx, dg, db, true)
	})
}

// BenchmarkGPULARS is one LARS step of a ResNet-50-sized tensor set (25.6M parameters in one).
func BenchmarkGPULARS(b *testing.B) {
	dev, s, _ := benchSetup(b)
	n := 25_600_000
	w, g, buf, scratch := benchAlloc(b, dev, s, n), benchAlloc(b, dev, s, n), benchAlloc(b, dev, s, n), benchAlloc(b, dev, s, LARSScratchFloats)
	benchRun(b, s, 0, func() error { return LARS(s, w, g, buf, n, 0.3, 1e-6, 0.9, 0.001, true, scratch) })
}
