package probe

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// The weighted kNN's defaults: DINO's eval_knn.py and solo-learn's WeightedKNNClassifier.
const (
	DefaultKNNK           = 20
	DefaultKNNTemperature = 0.07
)

// KNNOptions configure KNN; a zero field means the default.
type KNNOptions struct {
	K           int     // neighbours that vote; default DefaultKNNK
	Temperature float64 // a neighbour's vote is exp(similarity / Temperature); default DefaultKNNTemperature
	// LeaveOneOut says the queries are the bank's own rows, in order: no row is its own
	// neighbour, so that one labelled set scores itself.
	LeaveOneOut bool
}

// knnBlock is how many queries are compared with the bank at a time: it bounds the similarity
// matrix held at once to knnBlock × bank rows.
const knnBlock = 256

// KNN predicts the label of every query row (dim values each) from the bank rows and their
// labels: the K bank rows most similar by cosine similarity each vote for their label with
// weight exp(similarity / Temperature), and the label with the largest total wins (on a tie,
// the smaller label). Rows are L2-normalised first; a zero row has similarity 0 to every row.
// Among equally similar bank rows the earlier one is the nearer. K larger than the bank is
// the whole bank.
func KNN(ctx context.Context, bank []float32, labels []int, queries []float32, dim int, opt KNNOptions) ([]int, error) {
	if opt.K <= 0 {
		opt.K = DefaultKNNK
	}
	if opt.Temperature <= 0 {
		opt.Temperature = DefaultKNNTemperature
	}
	if dim <= 0 || len(bank)%dim != 0 || len(queries)%dim != 0 {
		return nil, fmt.Errorf("probe: knn: %d bank and %d query values are not rows of %d", len(bank), len(queries), dim)
	}
	nb, nq := len(bank)/dim, len(queries)/dim
	if len(labels) != nb {
		return nil, fmt.Errorf("probe: knn: %d labels for %d bank rows", len(labels), nb)
	}
	if opt.LeaveOneOut && nq != nb {
		return nil, fmt.Errorf("probe: knn: leave-one-out needs the bank as the queries, got %d queries for %d bank rows", nq, nb)
	}
	classes := 0
	for i, l := range labels {
		if l < 0 {
			return nil, fmt.Errorf("probe: knn: bank row %d has label %d", i, l)
		}
		classes = max(classes, l+1)
	}
	b := normalized(bank, dim)
	q := b
	if !opt.LeaveOneOut {
		q = normalized(queries, dim)
	}
	k := min(opt.K, nb)
	if opt.LeaveOneOut {
		k = min(opt.K, nb-1)
	}
	pred := make([]int, nq)
	sims := make([]float32, min(knnBlock, nq)*nb)
	nn := make([]neighbour, 0, k+1)
	votes := make([]float64, classes)
	for lo := 0; lo < nq; lo += knnBlock {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := min(knnBlock, nq-lo)
		s := sims[:n*nb]
		blas32.Gemm(blas.NoTrans, blas.Trans, 1,
			blas32.General{Rows: n, Cols: dim, Stride: dim, Data: q[lo*dim : (lo+n)*dim]},
			blas32.General{Rows: nb, Cols: dim, Stride: dim, Data: b},
			0, blas32.General{Rows: n, Cols: nb, Stride: nb, Data: s})
		for i := 0; i < n; i++ {
			self := -1
			if opt.LeaveOneOut {
				self = lo + i
			}
			nn = nearest(nn[:0], s[i*nb:(i+1)*nb], k, self)
			clear(votes)
			for _, x := range nn {
				// exp((s - s_max)/T): the same ranking of labels as exp(s/T), without
				// overflow at small temperatures.
				votes[labels[x.index]] += math.Exp(float64(x.sim-nn[0].sim) / opt.Temperature)
			}
			best := 0
			for c, v := range votes {
				if v > votes[best] {
					best = c
				}
			}
			pred[lo+i] = best
		}
	}
	return pred, nil
}

// Top1 is the share of predictions that equal their labels (NaN when there are none).
func Top1(pred, labels []int) float64 {
	if len(pred) == 0 || len(pred) != len(labels) {
		return math.NaN()
	}
	right := 0
	for i, p := range pred {
		if p == labels[i] {
			right++
		}
	}
	return float64(right) / float64(len(pred))
}

type neighbour struct {
	index int
	sim   float32
}

// nearest returns the k most similar entries of sims (skipping index self), most similar
// first, the earlier index first among equals; nn is reused.
func nearest(nn []neighbour, sims []float32, k, self int) []neighbour {
	if k <= 0 {
		return nn
	}
	for j, s := range sims {
		if j == self || (len(nn) == k && s <= nn[k-1].sim) {
			continue
		}
		// Insert after every entry at least as similar: an earlier index stays ahead.
		at := len(nn)
		for at > 0 && nn[at-1].sim < s {
			at--
		}
		if len(nn) < k {
			nn = append(nn, neighbour{})
		}
		copy(nn[at+1:], nn[at:len(nn)-1])
		nn[at] = neighbour{index: j, sim: s}
	}
	return nn
}

// normalized returns a copy of x whose rows of dim values have unit L2 norm (zero rows stay
// zero).
func normalized(x []float32, dim int) []float32 {
	out := make([]float32, len(x))
	for r := 0; r < len(x)/dim; r++ {
		row := x[r*dim : (r+1)*dim]
		var ss float64
		for _, v := range row {
			ss += float64(v) * float64(v)
		}
		if ss == 0 {
			continue
		}
		inv := 1 / math.Sqrt(ss)
		for j, v := range row {
			out[r*dim+j] = float32(float64(v) * inv)
		}
	}
	return out
}
