package trainer

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/natssl/natssl/configs"
)

// TestNTXentGradient checks the analytic gradient of NT-Xent against central differences.
func TestNTXentGradient(t *testing.T) {
	for _, tc := range []struct {
		name    string
		n, d    int
		temp    float64
		replica int
	}{
		{"one replica", 4, 3, 0.5, 1},
		{"two replicas, cold", 3, 5, 0.1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			m := 2 * tc.n * tc.replica
			z := make([]float32, m*tc.d)
			for i := range z {
				z[i] = float32(rng.NormFloat64())
			}
			pair := replicaPairs(tc.n)
			dz := make([]float32, len(z))
			ntXent(z, m, tc.d, tc.temp, pair, dz)
			scratch := make([]float32, len(z))
			const h = 1e-2
			for i := range z {
				orig := z[i]
				z[i] = orig + h
				lp := ntXent(z, m, tc.d, tc.temp, pair, scratch)
				z[i] = orig - h
				lm := ntXent(z, m, tc.d, tc.temp, pair, scratch)
				z[i] = orig
				num := (lp - lm) / (2 * h)
				if got := float64(dz[i]); math.Abs(got-num) > 1e-3+1e-2*math.Abs(num) {
					t.Errorf("dL/dz[%d] = %.6f, finite difference %.6f", i, got, num)
				}
			}
		})
	}
}

// TestNTXentKnownValue: with two orthogonal pairs of identical embeddings, each anchor's
// positive has similarity 1 and its two negatives 0.
func TestNTXentKnownValue(t *testing.T) {
	z := []float32{1, 0, 0, 1, 1, 0, 0, 1} // rows: a, b, a', b'  (n = 2)
	temp := 0.5
	got := ntXent(z, 4, 2, temp, replicaPairs(2), make([]float32, 8))
	e := math.Exp(1 / temp)
	want := -math.Log(e / (e + 2))
	if math.Abs(got-want) > 1e-12 {
		t.Fatalf("loss = %v, want %v", got, want)
	}
}

// netLoss runs one forward/backward pass and returns the loss and the summed gradients.
func netLoss(t *testing.T, n *net, views [][]float32) (float64, [][]float32) {
	t.Helper()
	loss, err := n.step(context.Background(), views)
	if err != nil {
		t.Fatal(err)
	}
	g := make([][]float32, len(n.grads))
	for i := range g {
		g[i] = append([]float32(nil), n.grads[i]...)
	}
	return loss, g
}

func randomViews(seed uint64, batch, size int) [][]float32 {
	rng := rand.New(rand.NewPCG(seed, 99))
	v := make([][]float32, 2)
	for k := range v {
		v[k] = make([]float32, batch*3*size*size)
		for i := range v[k] {
			v[k][i] = float32(rng.NormFloat64())
		}
	}
	return v
}

// TestNetworkGradient checks backpropagation through the whole graph (convs, batch norm
// fused with ReLU, pooling, residual additions, the head, the loss) against central
// differences on two weights of every parameter. The ResNet runs without batch statistics:
// at width 2 on 8-pixel images its loss has so many kinks (ReLUs of residual sums over
// near-constant channels) that differences only converge below float32's resolution; its
// batch norm is the convnet's.
func TestNetworkGradient(t *testing.T) {
	for _, tc := range []struct {
		backbone string
		noBN     bool
	}{{"convnet-small", false}, {"resnet18-cifar", true}} {
		t.Run(tc.backbone, func(t *testing.T) {
			m := configs.Model{Backbone: tc.backbone, Width: 2, ProjHidden: 6, ProjDim: 4}
			n, err := newNet(m, 8, 4, []string{"cpu"}, 3, 0.5, buildOptions{noBN: tc.noBN})
			if err != nil {
				t.Fatal(err)
			}
			defer n.close()
			views := randomViews(5, 4, 8)
			_, grads := netLoss(t, n, views)
			rng := rand.New(rand.NewPCG(9, 9))
			checked := 0
			for pi, p := range n.params {
				w := p.data()
				for k := 0; k < 2; k++ {
					j := rng.IntN(len(w))
					orig := w[j]
					const h = 1e-4
					w[j] = orig + h
					lp, _ := netLoss(t, n, views)
					w[j] = orig - h
					lm, _ := netLoss(t, n, views)
					w[j] = orig
					num := (lp - lm) / (2 * h)
					got := float64(grads[pi][j])
					if math.Abs(got-num) > 5e-3+3e-2*math.Abs(num) {
						t.Errorf("%s[%d]: gradient %.5f, finite difference %.5f", p.name, j, got, num)
					}
					checked++
				}
			}
			if checked < 10 {
				t.Fatalf("checked only %d weights", checked)
			}
		})
	}
}

// TestReplicaEquivalence: R replicas on a batch of B give the loss and gradients of one
// replica on the same B, for a model without batch statistics (each replica would
// otherwise normalise its own share).
func TestReplicaEquivalence(t *testing.T) {
	m := configs.Model{Backbone: "convnet-small", Width: 2, ProjHidden: 6, ProjDim: 4}
	views := randomViews(11, 8, 8)
	one, err := newNet(m, 8, 8, []string{"cpu"}, 3, 0.5, buildOptions{noBN: true})
	if err != nil {
		t.Fatal(err)
	}
	defer one.close()
	l1, g1 := netLoss(t, one, views)
	for _, r := range []int{2, 4} {
		devs := make([]string, r)
		for i := range devs {
			devs[i] = "cpu"
		}
		many, err := newNet(m, 8, 8, devs, 3, 0.5, buildOptions{noBN: true})
		if err != nil {
			t.Fatal(err)
		}
		lr, gr := netLoss(t, many, views)
		many.close()
		if math.Abs(lr-l1) > 1e-5 {
			t.Errorf("%d replicas: loss %v, one replica %v", r, lr, l1)
		}
		for i := range g1 {
			for j := range g1[i] {
				if d := math.Abs(float64(gr[i][j] - g1[i][j])); d > 1e-4+1e-3*math.Abs(float64(g1[i][j])) {
					t.Errorf("%d replicas: %s[%d] gradient %v, one replica %v", r, one.params[i].name, j, gr[i][j], g1[i][j])
					break
				}
			}
		}
	}
}
