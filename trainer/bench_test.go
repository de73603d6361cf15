package trainer

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/natssl/natssl/configs"
)

// BenchmarkStep times one training step (forward, loss, backward, update) by model, image
// side and replica count: the small convnet at its demo size, and ResNet-18 (CIFAR stem) at
// 32 and 96 px with the batch and head of natssl bench train's reference runs.
func BenchmarkStep(b *testing.B) {
	for _, tc := range []struct {
		backbone                      string
		width, hidden, size, batch, r int
	}{
		{"convnet-small", 8, 256, 32, 64, 1},
		{"convnet-small", 32, 256, 32, 256, 2},
		{"resnet18-cifar", 64, 512, 32, 64, 2},
		{"resnet18-cifar", 64, 512, 96, 32, 2},
	} {
		name := fmt.Sprintf("%s/w%d/%dpx/b%d/r%d", tc.backbone, tc.width, tc.size, tc.batch, tc.r)
		b.Run(name, func(b *testing.B) {
			devs := make([]string, tc.r)
			for i := range devs {
				devs[i] = "cpu"
			}
			m := configs.Model{Backbone: tc.backbone, Width: tc.width, ProjHidden: tc.hidden, ProjDim: 128}
			n, err := newNet(m, tc.size, tc.batch, devs, 1, 0.5, buildOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer n.close()
			o, _ := newOptimizer("adamw", 0.9, 0, n.params)
			views := randomViews(1, tc.batch, tc.size)
			if _, err := n.step(context.Background(), views); err != nil { // buffers allocated
				b.Fatal(err)
			}
			cpu0 := processCPU()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := n.step(context.Background(), views); err != nil {
					b.Fatal(err)
				}
				o.step(n.params, n.grads, 1e-3)
			}
			b.ReportMetric(float64(tc.batch*b.N)/b.Elapsed().Seconds(), "images/s")
			b.ReportMetric((processCPU()-cpu0)/float64(b.N), "cpu-s/op")
		})
	}
}

// BenchmarkConv times one convolution's forward and backward pass (both gradients, the
// weight gradient only for a first layer) by shape, for one replica's share of the
// reference batches: convnet-small's four layers on 256 views, and ResNet-18's stride-1 and
// stride-2 3×3 convolutions on 64 views.
func BenchmarkConv(b *testing.B) {
	for _, tc := range []struct {
		name              string
		n, hw, c, o, k, s int
		first             bool
	}{
		{"convnet1", 256, 32, 3, 32, 3, 1, true},
		{"convnet2", 256, 32, 32, 64, 3, 2, false},
		{"convnet3", 256, 16, 64, 128, 3, 2, false},
		{"convnet4", 256, 8, 128, 256, 3, 2, false},
		{"resnet-stem", 64, 32, 3, 64, 3, 1, true},
		{"resnet-l1", 64, 32, 64, 64, 3, 1, false},
		{"resnet-l2", 64, 16, 128, 128, 3, 1, false},
		{"resnet-l3", 64, 8, 256, 256, 3, 1, false},
		{"resnet-l4", 64, 4, 512, 512, 3, 1, false},
		{"resnet-l2s2", 64, 32, 64, 128, 3, 2, false},
		{"resnet-l4s2", 64, 8, 256, 512, 3, 2, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			g := newConvGeom(tc.n, tc.hw, tc.hw, tc.c, tc.o, tc.k, tc.s, tc.k/2)
			l := newConvLayer(g, tc.first, true, &convScratch{})
			x, w := randSlice(rng, tc.n*tc.hw*tc.hw*tc.c), randSlice(rng, tc.o*tc.c*tc.k*tc.k)
			y, dy := make([]float32, g.outPixels()*tc.o), randSlice(rng, g.outPixels()*tc.o)
			dx, dw := make([]float32, len(x)), make([]float32, len(w))
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cpu0 := threadCPU()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				l.forward(x, w, y)
				clear(dx)
				l.backward(x, w, dy, dx, dw)
			}
			b.ReportMetric(l.flops()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			b.ReportMetric(l.flops()*float64(b.N)/(threadCPU()-cpu0)/1e9, "GFLOP/cpu-s")
		})
	}
}

// processCPU is the CPU time of the process, in seconds: per step, steadier than wall
// time on a machine other work shares.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// threadCPU is the CPU time of the calling OS thread, in seconds: with OpenBLAS on one
// thread it is the time the work would take on a core of its own, on a busy machine too.
func threadCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1, &ru); err != nil { // RUSAGE_THREAD
		return math.NaN()
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
