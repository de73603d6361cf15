package trainer

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/natssl/natssl/configs"
)

// lossCase is one case of testdata/ssl_losses_reference.json (written by
// ssl_losses_reference.py with PyTorch): embeddings per view of the global batch, the loss and
// its gradient per view.
type lossCase struct {
	Name, Method                string
	Replicas, N, D, Views       int
	Global                      int
	Online, Target, Grad        [][]float64
	Loss                        float64
	Temperature                 float64
	QueueSize                   int `json:"queue_size"`
	Ptr                         int
	Queue                       [][]float64
	QueueAfter                  [][]float64 `json:"queue_after"`
	PtrAfter                    int         `json:"ptr_after"`
	SimCoeff, StdCoeff, CovCoef float64
	Lambda                      float64
}

func (c *lossCase) UnmarshalJSON(b []byte) error {
	type plain lossCase
	var aux struct {
		plain
		SimCoeff float64 `json:"sim_coeff"`
		StdCoeff float64 `json:"std_coeff"`
		CovCoeff float64 `json:"cov_coeff"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*c = lossCase(aux.plain)
	c.SimCoeff, c.StdCoeff, c.CovCoef = aux.SimCoeff, aux.StdCoeff, aux.CovCoeff
	return nil
}

func (c *lossCase) layout() layout {
	l := layout{replicas: c.Replicas, n: c.N, views: c.Views, global: c.Global, dOnline: c.D}
	if c.Target != nil {
		l.dTarget = c.D
	}
	return l
}

func (c *lossCase) spec() netSpec {
	return netSpec{method: configs.Method{Name: c.Method, QueueSize: c.QueueSize, Temperature: c.Temperature,
		SimCoeff: c.SimCoeff, StdCoeff: c.StdCoeff, CovCoeff: c.CovCoef, Lambda: c.Lambda}, temp: c.Temperature, seed: 1}
}

// block lays the per-view embeddings out as the gather does: replica by replica, each its
// online rows view by view, then its target rows.
func (c *lossCase) block(l layout) []float32 {
	g := make([]float32, l.replicas*l.block())
	for k := range l.images() {
		for v := range l.views {
			for j := range l.dOnline {
				g[l.online(k, v)+j] = float32(c.Online[v][k*c.D+j])
			}
		}
		for t := range c.Target {
			for j := range l.dTarget {
				g[l.target(k, t)+j] = float32(c.Target[t][k*c.D+j])
			}
		}
	}
	return g
}

func readLossCases(t *testing.T) []lossCase {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "ssl_losses_reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct{ Cases []lossCase }
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) < 9 {
		t.Fatalf("%d reference cases", len(ref.Cases))
	}
	return ref.Cases
}

// TestLossesMatchPyTorch: every method's loss and gradient on PyTorch's embeddings agree with
// the reference's to 1e-5, laid out over replicas as the gather lays them out; MoCo's queues
// after the step's keys are enqueued too.
func TestLossesMatchPyTorch(t *testing.T) {
	for _, c := range readLossCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			l := c.layout()
			obj, err := newObjective(c.spec(), l)
			if err != nil {
				t.Fatal(err)
			}
			q, isMoCo := obj.(*mocoLoss)
			if isMoCo {
				for i := range q.queue {
					for j, x := range c.Queue[i] {
						q.queue[i][j] = float32(x)
					}
				}
				q.ptr = c.Ptr
			}
			g := c.block(l)
			dg := make([]float32, len(g))
			loss := obj.loss(g, dg)
			if math.Abs(loss-c.Loss) > 1e-5 {
				t.Errorf("loss %.10f, PyTorch %.10f", loss, c.Loss)
			}
			for k := range l.images() {
				for v := range l.views {
					for j := range l.dOnline {
						got, want := float64(dg[l.online(k, v)+j]), c.Grad[v][k*c.D+j]
						if math.Abs(got-want) > 1e-5 {
							t.Fatalf("gradient of image %d view %d [%d]: %.8f, PyTorch %.8f", k, v, j, got, want)
						}
					}
				}
				for tv := range c.Target {
					for j := range l.dTarget {
						if dg[l.target(k, tv)+j] != 0 {
							t.Fatalf("a gradient reached the target network's rows")
						}
					}
				}
			}
			if isMoCo {
				q.commit()
				if q.ptr != c.PtrAfter {
					t.Errorf("queue pointer %d after the step, want %d", q.ptr, c.PtrAfter)
				}
				for i := range q.queue {
					for j, x := range c.QueueAfter[i] {
						if math.Abs(float64(q.queue[i][j])-x) > 1e-6 {
							t.Fatalf("queue %d value %d after the step: %v, want %v", i, j, q.queue[i][j], x)
						}
					}
				}
			}
		})
	}
}

// TestLossGradients checks every method's analytic gradient against central differences, on
// random embeddings over two replicas, with multi-crop where the method pairs it.
func TestLossGradients(t *testing.T) {
	for _, tc := range []struct {
		name   string
		method configs.Method
		views  int
		target bool
	}{
		{"simclr", configs.Method{Name: "simclr"}, 2, false},
		{"simclr multi-crop", configs.Method{Name: "simclr"}, 4, false},
		{"byol", configs.Method{Name: "byol"}, 2, true},
		{"byol multi-crop", configs.Method{Name: "byol"}, 3, true},
		{"moco", configs.Method{Name: "moco", QueueSize: 12, Temperature: 0.2}, 2, true},
		{"moco multi-crop", configs.Method{Name: "moco", QueueSize: 6, Temperature: 0.3}, 3, true},
		{"vicreg", configs.Method{Name: "vicreg", SimCoeff: 25, StdCoeff: 25, CovCoeff: 1}, 2, false},
		{"barlow", configs.Method{Name: "barlow", Lambda: 0.0051}, 2, false},
		{"barlow 1/d", configs.Method{Name: "barlow", Lambda: 0.25}, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := layout{replicas: 2, n: 3, views: tc.views, global: 2, dOnline: 4}
			if tc.target {
				l.dTarget = 4
			}
			obj, err := newObjective(netSpec{method: tc.method, temp: 0.5, seed: 3}, l)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(5, 6))
			z := make([]float32, l.replicas*l.block())
			for i := range z {
				z[i] = float32(rng.NormFloat64() * (0.5 + float64(i%4)*0.3))
			}
			dz := make([]float32, len(z))
			obj.loss(z, dz)
			scratch := make([]float32, len(z))
			// Small steps: VICReg's hinge max(0, 1 − std) has a kink a larger step may cross.
			const h = 2e-3
			checked := 0
			for r := range l.replicas {
				for i := r * l.block(); i < r*l.block()+l.onlineLen(); i++ {
					orig := z[i]
					z[i] = orig + h
					lp := obj.loss(z, scratch)
					z[i] = orig - h
					lm := obj.loss(z, scratch)
					z[i] = orig
					num := (lp - lm) / (2 * h)
					if got := float64(dz[i]); math.Abs(got-num) > 1e-3+1e-2*math.Abs(num) {
						t.Errorf("dL/dz[%d] = %.6f, finite difference %.6f", i, got, num)
					}
					checked++
				}
			}
			if checked != l.replicas*l.onlineLen() {
				t.Fatalf("checked %d values", checked)
			}
		})
	}
}

// TestMultiCropPairing: the positives of a view are the global views of its image in its
// replica's block, never itself, never a local view; with two views, the pairs of before.
func TestMultiCropPairing(t *testing.T) {
	n, views, global := 2, 4, 2
	pos := multiCropPositives(n, views, global)
	want := map[int][]int{
		0: {2}, 1: {3}, // global view 0 of images 0, 1: the other global view
		2: {0}, 3: {1},
		4: {0, 2}, 7: {1, 3}, // local views: both global views of their image
		8: {10}, 14: {8, 10}, // the second replica's block
	}
	for i, w := range want {
		got := pos(i, nil)
		if len(got) != len(w) {
			t.Errorf("positives of row %d: %v, want %v", i, got, w)
			continue
		}
		for j := range w {
			if got[j] != w[j] {
				t.Errorf("positives of row %d: %v, want %v", i, got, w)
			}
		}
	}
	two, pairs := multiCropPositives(3, 2, 2), replicaPairs(3)
	for i := range 12 {
		if a, b := two(i, nil), pairs(i, nil); len(a) != 1 || a[0] != b[0] {
			t.Errorf("row %d: multi-crop pairing %v, two-view pairing %v", i, a, b)
		}
	}
}

// TestDgemm holds the losses' BLAS (OpenBLAS in the openblas build) to a plain triple loop,
// for every transposition.
func TestDgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	const m, n, k = 5, 7, 3
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			a, b, c := make([]float64, m*k), make([]float64, k*n), make([]float64, m*n)
			for _, x := range [][]float64{a, b, c} {
				for i := range x {
					x[i] = rng.NormFloat64()
				}
			}
			at := func(i, j int) float64 { // op(a)[i][j]
				if ta {
					return a[j*m+i]
				}
				return a[i*k+j]
			}
			bt := func(i, j int) float64 {
				if tb {
					return b[j*k+i]
				}
				return b[i*n+j]
			}
			want := make([]float64, m*n)
			for i := range m {
				for j := range n {
					s := 0.5 * c[i*n+j]
					for l := range k {
						s += 2 * at(i, l) * bt(l, j)
					}
					want[i*n+j] = s
				}
			}
			dgemm(ta, tb, m, n, k, 2, a, b, 0.5, c)
			for i := range c {
				if math.Abs(c[i]-want[i]) > 1e-12 {
					t.Fatalf("ta %v tb %v: c[%d] = %v, want %v", ta, tb, i, c[i], want[i])
				}
			}
		}
	}
}
