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

// BenchmarkGPUConv is a forward convolution as the trainer's op does it: im2col, one
// product, and the layout change, at a ResNet-50 3×3 layer (batch 256, 56×56, 64 channels).
func BenchmarkGPUConv(b *testing.B) {
	dev, s, bl := benchSetup(b)
	g := Window{N: 256, C: 64, H: 56, W: 56, K: 3, Stride: 1, Pad: 1}
	o := 64
	rows, cols := g.ColRows(), g.ColCols()
	x, w := benchAlloc(b, dev, s, g.N*g.C*g.H*g.W), benchAlloc(b, dev, s, o*rows)
	col, out2, y := benchAlloc(b, dev, s, rows*cols), benchAlloc(b, dev, s, o*cols), benchAlloc(b, dev, s, o*cols)
	benchRun(b, s, 2*float64(o)*float64(rows)*float64(cols), func() error {
		if err := Im2col(s, g, x, col); err != nil {
			return err
		}
		if err := bl.SgemmRowMajor(false, false, o, cols, rows, 1, w, rows, col, cols, 0, out2, cols); err != nil {
			return err
		}
		return CNToNCHW(s, g.N, o, g.OH()*g.OW(), out2, y)
	})
}

// BenchmarkGPUBatchNorm is a training forward and backward pass with ReLU at the same layer.
func BenchmarkGPUBatchNorm(b *testing.B) {
	dev, s, _ := benchSetup(b)
	n, c, hw := 256, 64, 56*56
	size := n * c * hw
	bn := BN{N: n, C: c, HW: hw, ReLU: true, Gamma: benchAlloc(b, dev, s, c), Beta: benchAlloc(b, dev, s, c),
		RunMean: benchAlloc(b, dev, s, c), RunVar: benchAlloc(b, dev, s, c), Mean: benchAlloc(b, dev, s, c),
		IStd: benchAlloc(b, dev, s, c), XHat: benchAlloc(b, dev, s, size)}
	x, y, dx := benchAlloc(b, dev, s, size), benchAlloc(b, dev, s, size), benchAlloc(b, dev, s, size)
	dg, db := benchAlloc(b, dev, s, c), benchAlloc(b, dev, s, c)
	benchRun(b, s, 0, func() error {
		if err := bn.ForwardTrain(s, x, y, 0.1, 1e-5); err != nil {
			return err
		}
		return bn.Backward(s, y, dx, dg, db, true)
	})
}

// BenchmarkGPUNTXent is the loss and its gradient over a global batch of 1024 images.
func BenchmarkGPUNTXent(b *testing.B) {
	dev, s, bl := benchSetup(b)
	m, d, n := 2048, 128, 1024
	z, dz := benchAlloc(b, dev, s, m*d), benchAlloc(b, dev, s, m*d)
	l, err := NewNTXent(m, d, n, 0.1, benchAlloc(b, dev, s, NTXentFloats(m, d)))
	if err != nil {
		b.Fatal(err)
	}
	benchRun(b, s, 6*float64(m)*float64(m)*float64(d), func() error { return l.Run(s, bl, z, dz) })
}

// BenchmarkGPULARS is one LARS step of a ResNet-50-sized tensor set (25.6M parameters in one).
func BenchmarkGPULARS(b *testing.B) {
	dev, s, _ := benchSetup(b)
	n := 25_600_000
	w, g, buf, scratch := benchAlloc(b, dev, s, n), benchAlloc(b, dev, s, n), benchAlloc(b, dev, s, n), benchAlloc(b, dev, s, LARSScratchFloats)
	benchRun(b, s, 0, func() error { return LARS(s, w, g, buf, n, 0.3, 1e-6, 0.9, 0.001, true, scratch) })
}
