package trainer

import (
	"context"
	"fmt"
	"testing"

	"github.com/natssl/natssl/configs"
)

// BenchmarkStep times one training step (forward, loss, backward, update) of convnet-small
// at 32 px, by width and replica count. The w=32 batch=256 case is the one the PyTorch peer
// (testdata/pytorch_peer.py) times.
func BenchmarkStep(b *testing.B) {
	for _, tc := range []struct{ width, batch, replicas int }{{8, 64, 1}, {32, 256, 1}, {32, 256, 2}} {
		b.Run(fmt.Sprintf("w%d/b%d/r%d", tc.width, tc.batch, tc.replicas), func(b *testing.B) {
			devs := make([]string, tc.replicas)
			for i := range devs {
				devs[i] = "cpu"
			}
			m := configs.Model{Backbone: "convnet-small", Width: tc.width, ProjHidden: 256, ProjDim: 128}
			n, err := newNet(m, 32, tc.batch, devs, 1, 0.5, buildOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer n.close()
			o, _ := newOptimizer("adamw", 0.9, 0, n.params)
			views := randomViews(1, tc.batch, 32)
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
