package trainer

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/natssl/natssl/configs"
)

// methodCases are every method, and multi-crop where the method pairs it, on 8-pixel images.
var methodCases = []struct {
	name   string
	method configs.Method
	groups []viewGroup
}{
	{"simclr", configs.Method{Name: "simclr"}, []viewGroup{{8, 2}}},
	{"simclr multi-crop", configs.Method{Name: "simclr"}, []viewGroup{{8, 2}, {4, 2}}},
	{"byol", configs.Method{Name: "byol", TauBase: 0.9, TauFinal: 1}, []viewGroup{{8, 2}}},
	{"byol multi-crop", configs.Method{Name: "byol", TauBase: 0.9, TauFinal: 1}, []viewGroup{{8, 2}, {4, 3}}},
	{"moco", configs.Method{Name: "moco", Momentum: 0.9, MomentumFinal: 0.99, QueueSize: 24, Temperature: 0.2}, []viewGroup{{8, 2}}},
	{"moco multi-crop", configs.Method{Name: "moco", Momentum: 0.9, MomentumFinal: 0.99, QueueSize: 24, Temperature: 0.2}, []viewGroup{{8, 2}, {4, 2}}},
	{"vicreg", configs.Method{Name: "vicreg", SimCoeff: 25, StdCoeff: 25, CovCoeff: 1}, []viewGroup{{8, 2}}},
	{"barlow", configs.Method{Name: "barlow", Lambda: 0.0051}, []viewGroup{{8, 2}}},
}

func testSpec(method configs.Method, groups []viewGroup, batch int, devices []string) netSpec {
	return netSpec{model: configs.Model{Backbone: "convnet-small", Width: 2, ProjHidden: 6, ProjDim: 4},
		method: method, predHidden: 5, temp: 0.5, groups: groups, batch: batch, devices: devices, seed: 3}
}

// groupViews draws random views of batch images for the groups.
func groupViews(seed uint64, batch int, groups []viewGroup) [][]float32 {
	rng := rand.New(rand.NewPCG(seed, 99))
	var out [][]float32
	for _, g := range groups {
		for range g.count {
			v := make([]float32, batch*3*g.size*g.size)
			for i := range v {
				v[i] = float32(rng.NormFloat64())
			}
			out = append(out, v)
		}
	}
	return out
}

func cpus(n int) []string {
	d := make([]string, n)
	for i := range d {
		d[i] = "cpu"
	}
	return d
}

// TestMethodsReplicaEquivalence: for every method, R replicas on a batch of B take the steps
// of one replica on the same B (loss and gradients, the target network's EMA, MoCo's queue
// over steps that wrap it), for a model without batch statistics (each replica would
// otherwise normalise its own share).
func TestMethodsReplicaEquivalence(t *testing.T) {
	for _, tc := range methodCases {
		t.Run(tc.name, func(t *testing.T) {
			const batch, steps = 8, 4
			run := func(replicas int) ([]float64, [][][]float32, *net) {
				n, err := newSpecNet(testSpec(tc.method, tc.groups, batch, cpus(replicas)), buildOptions{noBN: true})
				if err != nil {
					t.Fatal(err)
				}
				// SGD: Adam's normalised steps would magnify float32 rounding over the steps.
				o, err := newOptimizer("sgd", 0.9, 1e-6, n.params)
				if err != nil {
					t.Fatal(err)
				}
				var losses []float64
				var grads [][][]float32
				for s := range steps {
					loss, g := netLoss(t, n, groupViews(uint64(11+s), batch, tc.groups))
					losses, grads = append(losses, loss), append(grads, g)
					o.step(n.params, n.grads, 0.01)
					n.updated(int64(s), steps)
				}
				return losses, grads, n
			}
			l1, g1, one := run(1)
			defer one.close()
			l2, g2, two := run(2)
			defer two.close()
			for s := range steps {
				if math.Abs(l1[s]-l2[s]) > 1e-5 {
					t.Errorf("step %d: 2 replicas loss %v, one replica %v", s+1, l2[s], l1[s])
				}
				for i := range g1[s] {
					for j := range g1[s][i] {
						if d := math.Abs(float64(g2[s][i][j] - g1[s][i][j])); d > 1e-4+1e-3*math.Abs(float64(g1[s][i][j])) {
							t.Fatalf("step %d: 2 replicas: %s[%d] gradient %v, one replica %v", s+1, one.params[i].name, j, g2[s][i][j], g1[s][i][j])
						}
					}
				}
			}
			if one.target != nil {
				for i, pr := range one.target.pairs {
					a, b := pr[0].data(), two.target.pairs[i][0].data()
					for j := range a {
						if math.Abs(float64(a[j]-b[j])) > 1e-5 {
							t.Fatalf("target %s[%d]: one replica %v, two %v", pr[0].name, j, a[j], b[j])
						}
					}
				}
			}
			if q1, ok := one.gather.obj.(*mocoLoss); ok {
				q2 := two.gather.obj.(*mocoLoss)
				if q1.ptr != q2.ptr || q1.ptr != (steps*batch)%q1.size {
					t.Errorf("queue pointers %d and %d after %d steps of %d into %d", q1.ptr, q2.ptr, steps, batch, q1.size)
				}
				for v := range q1.queue {
					for j := range q1.queue[v] {
						if math.Abs(float64(q1.queue[v][j]-q2.queue[v][j])) > 1e-5 {
							t.Fatalf("queue %d [%d]: one replica %v, two %v", v, j, q1.queue[v][j], q2.queue[v][j])
						}
					}
				}
			}
		})
	}
}

// TestMethodsNetworkGradient checks backpropagation through every method's whole graph (the
// crop sizes' backbones sharing parameters, the heads, the predictor, the loss; the target
// network held constant) against central differences on two weights of every parameter.
func TestMethodsNetworkGradient(t *testing.T) {
	for _, tc := range methodCases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := newSpecNet(testSpec(tc.method, tc.groups, 6, cpus(1)), buildOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer n.close()
			if n.target != nil { // a target apart from the online network
				n.target.update(0, 1)
				for _, pr := range n.target.pairs {
					for j := range pr[0].data() {
						pr[0].data()[j] *= 0.9
					}
				}
			}
			views := groupViews(5, 6, tc.groups)
			_, grads := netLoss(t, n, views)
			rng := rand.New(rand.NewPCG(9, 9))
			for pi, p := range n.params {
				w := p.data()
				for range 2 {
					j := rng.IntN(len(w))
					orig := w[j]
					const h = 1e-4
					w[j] = orig + h
					lp, _ := netLoss(t, n, views)
					w[j] = orig - h
					lm, _ := netLoss(t, n, views)
					w[j] = orig
					num := (lp - lm) / (2 * h)
					if got := float64(grads[pi][j]); math.Abs(got-num) > 5e-3+3e-2*math.Abs(num) {
						t.Errorf("%s[%d]: gradient %.5f, finite difference %.5f", p.name, j, got, num)
					}
				}
			}
		})
	}
}

// TestMethodHeads: each method's parameters are its paper's heads; the target network holds
// the backbone and projector (not the predictor), starting equal to the online ones.
func TestMethodHeads(t *testing.T) {
	want := map[string][]string{
		"simclr": {"head.fc1.w", "head.bn1.gamma", "head.fc2.w"},
		"byol":   {"head.fc1.w", "head.bn1.gamma", "head.fc2.w", "pred.fc1.w", "pred.bn1.gamma", "pred.fc2.w"},
		"moco":   {"head.fc1.w", "head.fc2.w"},
		"vicreg": {"head.fc1.w", "head.bn1.gamma", "head.fc2.w", "head.bn2.gamma", "head.fc3.w"},
		"barlow": {"head.fc1.w", "head.bn1.gamma", "head.fc2.w", "head.bn2.gamma", "head.fc3.w"},
	}
	for _, tc := range methodCases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := newSpecNet(testSpec(tc.method, tc.groups, 4, cpus(1)), buildOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer n.close()
			var heads []string
			for _, p := range n.params {
				if p.name[:4] == "head" || p.name[:4] == "pred" {
					if p.kind == kindWeight || p.kind == kindBNScale {
						heads = append(heads, p.name)
					}
				}
			}
			if !slices.Equal(heads, want[tc.method.Name]) {
				t.Errorf("head parameters %v, want %v", heads, want[tc.method.Name])
			}
			if n.target == nil {
				return
			}
			for _, pr := range n.target.pairs {
				if pr[0].name[:4] == "pred" {
					t.Errorf("the target network has the predictor's %s", pr[0].name)
				}
				if !slices.Equal(pr[0].data(), pr[1].data()) {
					t.Errorf("target %s does not start as the online one", pr[0].name)
				}
			}
			want := len(n.params)
			if tc.method.Name == "byol" {
				want -= 6 // the predictor's weights, biases, γ and β
			}
			if len(n.target.pairs) != want {
				t.Errorf("the target network has %d parameters, want %d", len(n.target.pairs), want)
			}
		})
	}
}

// TestEMA: the target moves by ξ ← τξ + (1−τ)θ after each step, τ on its cosine from base to
// final over the run, and never by gradients.
func TestEMA(t *testing.T) {
	tg := newTarget(1, 0.996, 1)
	for _, c := range []struct {
		k, total int64
		want     float64
	}{{0, 100, 0.996}, {50, 100, 0.998}, {100, 100, 1}, {25, 100, 1 - 0.004*(math.Cos(math.Pi/4)+1)/2}, {200, 100, 1}} {
		if got := tg.tau(c.k, c.total); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("tau(%d, %d) = %v, want %v", c.k, c.total, got, c.want)
		}
	}
	if got := newTarget(1, 0.99, 0.999).tau(0, 10); got != 0.99 {
		t.Errorf("MoCo's first m = %v, want 0.99", got)
	}

	spec := testSpec(configs.Method{Name: "byol", TauBase: 0.5, TauFinal: 1}, []viewGroup{{8, 2}}, 4, cpus(1))
	n, err := newSpecNet(spec, buildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.close()
	o, _ := newOptimizer("sgd", 0, 0, n.params)
	before := map[string][]float32{}
	for _, pr := range n.target.pairs {
		before[pr[0].name] = slices.Clone(pr[0].data())
	}
	netLoss(t, n, groupViews(1, 4, spec.groups))
	o.step(n.params, n.grads, 0.5)
	for _, pr := range n.target.pairs {
		if !slices.Equal(pr[0].data(), before[pr[0].name]) {
			t.Fatalf("the optimizer moved target %s", pr[0].name)
		}
	}
	n.updated(1, 4) // τ = 1 − 0.5·(cos(π/4) + 1)/2
	tau := 1 - 0.5*(math.Cos(math.Pi/4)+1)/2
	moved := false
	for _, pr := range n.target.pairs {
		for j, x := range pr[0].data() {
			want := float32(tau)*before[pr[0].name][j] + float32(1-tau)*pr[1].data()[j]
			if x != want {
				t.Fatalf("target %s[%d] = %v, want %v", pr[0].name, j, x, want)
			}
			moved = moved || x != before[pr[0].name][j]
		}
	}
	if !moved {
		t.Fatal("the EMA moved nothing")
	}
}

// TestQueueOrder: after each step MoCo's queue of view t holds the step's keys (the target
// network's projections of view t, normalised) in global batch order at the pointer, and
// the pointer wraps.
func TestQueueOrder(t *testing.T) {
	const batch = 4
	groups := []viewGroup{{8, 2}}
	for _, replicas := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d replicas", replicas), func(t *testing.T) {
			spec := testSpec(configs.Method{Name: "moco", Momentum: 0.9, MomentumFinal: 0.99, QueueSize: 12, Temperature: 0.2}, groups, batch, cpus(replicas))
			n, err := newSpecNet(spec, buildOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer n.close()
			q := n.gather.obj.(*mocoLoss)
			for s := range 4 {
				netLoss(t, n, groupViews(uint64(s), batch, groups))
				at := q.ptr
				n.updated(int64(s), 4)
				if want := (at + batch) % 12; q.ptr != want {
					t.Fatalf("step %d: pointer %d, want %d", s+1, q.ptr, want)
				}
				l := n.gather.lay
				for v := range 2 {
					keys, _ := normalizeRows(l.targetView(n.gather.z, v), batch, l.dTarget)
					for k := range batch {
						for j := range l.dTarget {
							if got, want := q.queue[v][(at+k)*l.dTarget+j], float32(keys[k*l.dTarget+j]); got != want {
								t.Fatalf("step %d: queue %d slot %d = %v, want image %d's key %v", s+1, v, at+k, got, k, want)
							}
						}
					}
				}
			}
		})
	}
}

// TestMultiCropNet: a net of two crop sizes takes one input per size, runs one backbone per
// size over the same parameters, moves one set of running statistics, and refuses a batch
// with other views.
func TestMultiCropNet(t *testing.T) {
	groups := []viewGroup{{8, 2}, {4, 3}}
	n, err := newSpecNet(testSpec(configs.Method{Name: "simclr"}, groups, 4, cpus(2)), buildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.close()
	r := n.replicas[0]
	xs := r.in.(*hostInput).xs
	if len(xs) != 2 || len(xs[0]) != 2*2*3*8*8 || len(xs[1]) != 3*2*3*4*4 || len(r.extra) != 1 {
		t.Fatalf("inputs %d (%d, %d floats), extra backbones %d", len(xs), len(xs[0]), len(xs[1]), len(r.extra))
	}
	if n.gather.lay.views != 5 || n.gather.lay.global != 2 {
		t.Fatalf("layout %+v", n.gather.lay)
	}
	for i, l := range r.extra[0].bns {
		if &l.mean[0] != &r.b.bns[i].mean[0] {
			t.Fatalf("batch norm %d of the small crops has running statistics of its own", i)
		}
	}
	if len(r.extra[0].params) != len(r.b.params)-6 { // all but the head's fc1, bn1 (2), fc2
		t.Errorf("small-crop backbone reads %d parameters of %d", len(r.extra[0].params), len(r.b.params))
	}
	views := groupViews(2, 4, groups)
	loss, g := netLoss(t, n, views)
	if math.IsNaN(loss) || loss <= 0 {
		t.Fatalf("loss %v", loss)
	}
	for i, x := range g {
		for _, v := range x {
			if math.IsNaN(float64(v)) {
				t.Fatalf("%s: NaN gradient", n.params[i].name)
			}
		}
	}
	if _, err := n.step(context.Background(), views[:2]); err == nil {
		t.Error("a batch of two views for a model of five: no error")
	}
}

// methodConfigs are tiny training configs of every method (multi-crop where it pairs), valid
// as configs.Validate has them.
func methodConfigs() map[string]*configs.Config {
	out := map[string]*configs.Config{}
	for _, name := range configs.Methods {
		cfg := tinyConfig()
		cfg.Method.Name = name
		cfg.Method.QueueSize = 16 // two steps of 8: the resumed run wraps it
		cfg.Method.TauBase, cfg.Method.Momentum = 0.9, 0.9
		out[name] = cfg
	}
	for _, name := range []string{"simclr", "byol", "moco"} {
		cfg := out[name].Clone()
		cfg.Data.ImageSize = 12
		cfg.Augment.Crops = []configs.Crop{{Size: 12, Count: 2, Scale: [2]float64{0.3, 1}}, {Size: 8, Count: 2, Scale: [2]float64{0.1, 0.3}}}
		cfg.Train.Devices = []string{"cpu", "cpu"}
		out[name+" multi-crop"] = cfg
	}
	for name, cfg := range out {
		if err := cfg.Validate(); err != nil {
			panic(name + ": " + err.Error())
		}
	}
	return out
}

// sourceFor is the synthetic source of cfg's views.
func sourceFor(cfg *configs.Config, start Position) *synthSource {
	var sizes []int
	for _, g := range cfg.ViewGroups() {
		for range g.Count {
			sizes = append(sizes, g.Size)
		}
	}
	return &synthSource{batch: cfg.Data.BatchSize, size: cfg.Data.ImageSize, sizes: sizes, seed: 5, perEpoch: 20, pos: start}
}

// TestMethodsExactResume: for every method, a run resumed from its step-3 checkpoint takes
// bit for bit the steps the uninterrupted run took, and ends with the same online and target
// networks and MoCo queues: the checkpoint holds the target's parameters, the queues and
// their pointer.
func TestMethodsExactResume(t *testing.T) {
	for name, cfg := range methodConfigs() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			cfg.Train.Steps = 7
			dirA := t.TempDir()
			_, full, err := trainSteps(t, ctx, Options{Config: cfg, Source: sourceFor(cfg, Position{}), CheckpointDir: dirA})
			if err != nil {
				t.Fatal(err)
			}
			ck, err := ReadCheckpoint(filepath.Join(dirA, checkpointName(3)))
			if err != nil {
				t.Fatal(err)
			}
			hasTarget := false
			for _, ti := range ck.Header.Tensors {
				hasTarget = hasTarget || strings.HasPrefix(ti.Name, "target/param/")
			}
			if wantTarget := cfg.Method.UsesTarget(); hasTarget != wantTarget {
				t.Fatalf("checkpoint holds a target network: %v, want %v", hasTarget, wantTarget)
			}
			if cfg.Method.Name == "moco" && (ck.Tensors["moco/queue/1"] == nil || ck.Header.Method == nil || ck.Header.Method.QueuePtr != 8) {
				t.Fatalf("checkpoint's queue state: %+v, queue 1 %d values", ck.Header.Method, len(ck.Tensors["moco/queue/1"]))
			}
			dirB := t.TempDir()
			res, resumed, err := trainSteps(t, ctx, Options{Config: cfg, Source: sourceFor(cfg, ck.Header.Position), CheckpointDir: dirB, Resume: ck})
			if err != nil {
				t.Fatal(err)
			}
			if res.Step != 7 {
				t.Fatalf("resumed run ended at step %d", res.Step)
			}
			for s := int64(4); s <= 7; s++ {
				if resumed[s] != full[s] {
					t.Errorf("step %d: resumed loss %v, uninterrupted %v", s, resumed[s], full[s])
				}
			}
			a, err := ReadCheckpoint(filepath.Join(dirA, checkpointName(7)))
			if err != nil {
				t.Fatal(err)
			}
			b, err := ReadCheckpoint(filepath.Join(dirB, checkpointName(7)))
			if err != nil {
				t.Fatal(err)
			}
			for _, ti := range a.Header.Tensors {
				if !slices.Equal(a.Tensors[ti.Name], b.Tensors[ti.Name]) {
					t.Errorf("tensor %s differs after the resumed run", ti.Name)
				}
			}
		})
	}
}

// TestBenchMethods: natssl bench train measures every method and its views, and names them.
func TestBenchMethods(t *testing.T) {
	cfgs := methodConfigs()
	for _, name := range []string{"byol", "moco multi-crop", "vicreg"} {
		t.Run(name, func(t *testing.T) {
			res, err := Bench(context.Background(), cfgs[name], BenchOptions{Replicas: 2, Steps: 1})
			if err != nil {
				t.Fatal(err)
			}
			method := strings.Fields(name)[0]
			if !strings.Contains(res.Model, ", "+method+", views 2×") || res.StepS <= 0 || res.GFLOPS <= 0 {
				t.Errorf("result %+v", res)
			}
			if strings.HasSuffix(name, "multi-crop") && !strings.Contains(res.Model, "2×12+2×8") {
				t.Errorf("model %q does not name the crops", res.Model)
			}
		})
	}
}
