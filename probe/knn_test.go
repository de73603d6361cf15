package probe

import (
	"context"
	"math"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func TestKNN(t *testing.T) {
	tests := []struct {
		name    string
		bank    []float32
		labels  []int
		queries []float32
		dim     int
		opt     KNNOptions
		want    []int
	}{
		// Cosine, not dot product: the long row points elsewhere.
		{"cosine not dot product", []float32{0.5, 0, 10, 10}, []int{1, 0}, []float32{1, 0}, 2, KNNOptions{K: 1}, []int{1}},
		// One row of label 0 at similarity 1; two of label 1 at about 0.995.
		{"k=1 takes the nearest", nearFar, []int{0, 1, 1}, []float32{1, 0}, 2, KNNOptions{K: 1}, []int{0}},
		{"k=3 lets two near ones outvote it", nearFar, []int{0, 1, 1}, []float32{1, 0}, 2, KNNOptions{K: 3}, []int{1}},
		{"a low temperature weights the nearest far more", nearFar, []int{0, 1, 1}, []float32{1, 0}, 2, KNNOptions{K: 3, Temperature: 0.001}, []int{0}},
		{"default k and temperature", nearFar, []int{0, 1, 1}, []float32{1, 0}, 2, KNNOptions{}, []int{1}},
		{"k beyond the bank is the bank", nearFar, []int{0, 1, 1}, []float32{1, 0}, 2, KNNOptions{K: 100}, []int{1}},
		{"a tie goes to the smaller label", []float32{1, 0, 1, 0}, []int{3, 2}, []float32{1, 0}, 2, KNNOptions{K: 2}, []int{2}},
		{"equally similar: the earlier row is nearer", []float32{1, 0, 2, 0}, []int{3, 2}, []float32{1, 0}, 2, KNNOptions{K: 1}, []int{3}},
		{"a zero query is as far from every row", []float32{1, 0, 0, 1, 0, -1}, []int{1, 0, 0}, []float32{0, 0}, 2, KNNOptions{K: 3}, []int{0}},
		{"leave one out: no row is its own neighbour", []float32{1, 0, 1, 0.1, 0, 1}, []int{0, 1, 1}, nil, 2, KNNOptions{K: 1, LeaveOneOut: true}, []int{1, 0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.queries
			if tt.opt.LeaveOneOut {
				q = tt.bank
			}
			got, err := KNN(context.Background(), tt.bank, tt.labels, q, tt.dim, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("predictions %v, want %v", got, tt.want)
			}
		})
	}
}

// nearFar is one row at angle 0 and two at about 0.1 rad (cosine 0.995) from the query [1, 0].
var nearFar = []float32{3, 0, 1, 0.1, 1, -0.1}

// TestKNNAgainstBruteForce: random features scored against a reference that sorts every
// similarity in float64, across more queries than one block holds.
func TestKNNAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const dim, nb, classes = 12, 400, 7
	bank, labels := randomRows(rng, nb, dim, classes)
	queries, qlabels := randomRows(rng, 300, dim, classes)
	for _, opt := range []KNNOptions{{K: 20, Temperature: 0.07}, {K: 5, Temperature: 0.5}, {K: 1}, {K: 20, LeaveOneOut: true}, {K: 7, Temperature: 0.02, LeaveOneOut: true}} {
		q, ql := queries, qlabels
		if opt.LeaveOneOut {
			q, ql = bank, labels
		}
		got, err := KNN(context.Background(), bank, labels, q, dim, opt)
		if err != nil {
			t.Fatal(err)
		}
		want := bruteKNN(bank, labels, q, dim, opt)
		diff := 0
		for i := range want {
			if got[i] != want[i] {
				diff++
			}
		}
		if diff > 0 {
			t.Errorf("%+v: %d of %d predictions differ from the brute-force reference", opt, diff, len(want))
		}
		if acc := Top1(got, ql); !(acc > 1.0/classes) {
			t.Errorf("%+v: top-1 %.3f on clustered data, want better than chance", opt, acc)
		}
	}
}

// randomRows draws n rows around one centre per class, so that neighbours mean something.
func randomRows(rng *rand.Rand, n, dim, classes int) ([]float32, []int) {
	centres := make([]float64, classes*dim)
	for i := range centres {
		centres[i] = rand.New(rand.NewPCG(9, uint64(i))).NormFloat64()
	}
	x := make([]float32, n*dim)
	labels := make([]int, n)
	for i := range labels {
		labels[i] = rng.IntN(classes)
		for j := 0; j < dim; j++ {
			x[i*dim+j] = float32(centres[labels[i]*dim+j] + 0.8*rng.NormFloat64())
		}
	}
	return x, labels
}

// bruteKNN is the definition, written plainly: every similarity in float64, a full sort.
func bruteKNN(bank []float32, labels []int, queries []float32, dim int, opt KNNOptions) []int {
	k, temp := opt.K, opt.Temperature
	if temp == 0 {
		temp = DefaultKNNTemperature
	}
	norm := func(r []float32) []float64 {
		out := make([]float64, len(r))
		var ss float64
		for _, v := range r {
			ss += float64(v) * float64(v)
		}
		for j, v := range r {
			out[j] = float64(v) / math.Sqrt(ss)
		}
		return out
	}
	nb := len(bank) / dim
	var pred []int
	for i := 0; i < len(queries)/dim; i++ {
		q := norm(queries[i*dim : (i+1)*dim])
		type cand struct {
			j   int
			sim float64
		}
		var cands []cand
		for j := 0; j < nb; j++ {
			if opt.LeaveOneOut && j == i {
				continue
			}
			b := norm(bank[j*dim : (j+1)*dim])
			var s float64
			for d := range q {
				s += q[d] * b[d]
			}
			cands = append(cands, cand{j, s})
		}
		sort.SliceStable(cands, func(a, b int) bool { return cands[a].sim > cands[b].sim })
		votes := map[int]float64{}
		for _, c := range cands[:min(k, len(cands))] {
			votes[labels[c.j]] += math.Exp(c.sim / temp)
		}
		best := -1
		for l, v := range votes {
			if best < 0 || v > votes[best] || (v == votes[best] && l < best) {
				best = l
			}
		}
		pred = append(pred, best)
	}
	return pred
}

func TestKNNRefusals(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		bank   []float32
		labels []int
		q      []float32
		opt    KNNOptions
		want   string
	}{
		{"ragged rows", []float32{1, 2, 3}, []int{0}, []float32{1, 2}, KNNOptions{}, "not rows of 2"},
		{"labels short", []float32{1, 2, 3, 4}, []int{0}, []float32{1, 2}, KNNOptions{}, "1 labels for 2 bank rows"},
		{"unlabelled row", []float32{1, 2, 3, 4}, []int{0, -1}, []float32{1, 2}, KNNOptions{}, "bank row 1 has label -1"},
		{"leave one out of other queries", []float32{1, 2, 3, 4}, []int{0, 1}, []float32{1, 2}, KNNOptions{LeaveOneOut: true}, "leave-one-out needs the bank"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := KNN(ctx, tt.bank, tt.labels, tt.q, 2, tt.opt)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want one saying %q", err, tt.want)
			}
		})
	}
	if got := Top1(nil, nil); !math.IsNaN(got) {
		t.Errorf("Top1 of nothing = %v, want NaN", got)
	}
}

// BenchmarkKNN: a monitor's leave-one-out kNN over n images of 256-d features (the demo's
// convnet-small), 10 classes.
func BenchmarkKNN(b *testing.B) {
	for _, n := range []int{1000, 4000} {
		b.Run(itoa(n), func(b *testing.B) {
			x, labels := randomRows(rand.New(rand.NewPCG(3, 4)), n, 256, 10)
			for b.Loop() {
				if _, err := KNN(context.Background(), x, labels, x, 256, KNNOptions{LeaveOneOut: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
