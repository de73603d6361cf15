package trainer

import (
	"context"
	"math"
	"testing"

	"github.com/natssl/natssl/configs"
)

// TestBackbones builds every backbone at a tiny width, takes a training step, and checks
// the feature size of its encoder.
func TestBackbones(t *testing.T) {
	for _, tc := range []struct {
		backbone  string
		width     int
		size, dim int
	}{
		{"convnet-small", 2, 8, 16},
		{"resnet18-cifar", 2, 8, 16},
		{"resnet18", 2, 32, 16},
		{"resnet50", 1, 32, 32},
	} {
		t.Run(tc.backbone, func(t *testing.T) {
			m := configs.Model{Backbone: tc.backbone, Width: tc.width, ProjHidden: 8, ProjDim: 4}
			n, err := newNet(m, tc.size, 4, []string{"cpu"}, 1, 0.5, buildOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer n.close()
			loss, err := n.step(context.Background(), randomViews(1, 4, tc.size))
			if err != nil || math.IsNaN(loss) || loss <= 0 {
				t.Fatalf("loss %v, %v", loss, err)
			}
			e, err := NewEncoder(m, tc.size, 1)
			if err != nil {
				t.Fatal(err)
			}
			f, err := e.Features(context.Background(), randomViews(2, 3, tc.size)[0], 3)
			if err != nil || e.Dim() != tc.dim || len(f) != 3*tc.dim {
				t.Fatalf("Dim %d, %d features, %v; want %d", e.Dim(), len(f), err, tc.dim)
			}
		})
	}
	if _, err := newNet(configs.Model{Backbone: "vgg", Width: 2, ProjHidden: 8, ProjDim: 4}, 8, 4, []string{"cpu"}, 1, 0.5, buildOptions{}); err == nil {
		t.Fatal("unknown backbone accepted")
	}
}
