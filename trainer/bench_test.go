package trainer

import (
	"context"
	"fmt"
	"testing"

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
		{"resnet18-cifar", 64, 512, 96, 16, 2},
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
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := n.step(context.Background(), views); err != nil {
					b.Fatal(err)
				}
				o.step(n.params, n.grads, 1e-3)
			}
			b.ReportMetric(float64(tc.batch*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
