package probe

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync"
)

// DefaultCs is the protocol's grid of SVM costs.
var DefaultCs = []float64{1e-4, 1e-3, 1e-2, 0.1, 1, 10, 100, 1000}

// Options configure Evaluate; the zero value of a field means the protocol's value.
type Options struct {
	Classifier Classifier // default LinearSVC
	Cs         []float64  // default DefaultCs
	Folds      int        // default 3
	Tol        float64    // default 1e-5
	MaxIter    int        // default 1000
	Workers    int        // tasks fitted at once; default GOMAXPROCS
}

func (o Options) withDefaults() Options {
	if o.Classifier == "" {
		o.Classifier = LinearSVC
	}
	if len(o.Cs) == 0 {
		o.Cs = DefaultCs
	}
	if o.Folds == 0 {
		o.Folds = 3
	}
	if o.Tol == 0 {
		o.Tol = 1e-5
	}
	if o.MaxIter == 0 {
		o.MaxIter = 1000
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return o
}

// TaskResult is the probe's outcome on one task.
type TaskResult struct {
	Task       string  `json:"task"`
	Cluster    string  `json:"cluster"`
	Subcluster string  `json:"subcluster"`
	NTrain     int     `json:"n_train"`
	NTest      int     `json:"n_test"`
	C          float64 `json:"C"`
	CVAccuracy float64 `json:"cv_accuracy"` // mean accuracy over the folds at the chosen C
	Accuracy   float64 `json:"accuracy"`    // on the test split
	// NotConverged counts fits of this task (all C, all folds, refit) that reached MaxIter.
	NotConverged int `json:"not_converged"`
	// Predictions are the refit classifier's outcome on each test image, in the suite's order;
	// Accuracy is the share of them that are right. They let a report resample test images
	// for confidence intervals and pair two encoders image by image. Left out of the JSON,
	// which stays one short line per evaluation; the tracker stores them.
	Predictions []Prediction `json:"-"`
}

// Prediction is the probe's answer for one test image.
type Prediction struct {
	ID               string // the image id of the suite
	Label, Predicted int
}

// Correct reports whether the prediction is the image's label.
func (p Prediction) Correct() bool { return p.Label == p.Predicted }

// GroupMean is the mean test accuracy of the tasks of one cluster or subcluster.
type GroupMean struct {
	Name     string  `json:"name"`
	Tasks    int     `json:"tasks"`
	Accuracy float64 `json:"accuracy"`
}

// Results are a suite's probe results: per task in suite order, the means per cluster and
// subcluster (sorted by name; tasks without a subcluster are in no subcluster mean), and the
// mean over all tasks, the benchmark's headline.
type Results struct {
	Classifier  Classifier   `json:"classifier"`
	Tasks       []TaskResult `json:"tasks"`
	Clusters    []GroupMean  `json:"clusters"`
	Subclusters []GroupMean  `json:"subclusters"`
	Mean        float64      `json:"mean_accuracy"`
}

// Evaluate runs the protocol on every task of s with the features f (which must hold a row for
// every id of s). Tasks run on opt.Workers goroutines; every task is computed the same way
// whatever the number of workers, so the results do not depend on it.
func Evaluate(ctx context.Context, s *Suite, f *Features, opt Options) (*Results, error) {
	opt = opt.withDefaults()
	index := f.Index()
	for _, t := range s.Tasks {
		for _, set := range [][]Sample{t.Train, t.Test} {
			for _, smp := range set {
				if _, ok := index[smp.ID]; !ok {
					return nil, fmt.Errorf("probe: task %q: id %q (%s:%d) has no feature row", t.Name, smp.ID, s.Name, smp.Line)
				}
			}
		}
		var n [2]int
		for _, smp := range t.Train {
			n[smp.Label]++
		}
		if min(n[0], n[1]) < opt.Folds {
			return nil, fmt.Errorf("probe: task %q (%s:%d): %d/%d train rows of label 0/1, %d-fold cross-validation needs %d of each",
				t.Name, s.Name, t.Line, n[0], n[1], opt.Folds, opt.Folds)
		}
	}
	res := &Results{Classifier: opt.Classifier, Tasks: make([]TaskResult, len(s.Tasks))}
	jobs := make(chan int)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := 0; w < min(opt.Workers, len(s.Tasks)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if ctx.Err() != nil {
					continue
				}
				res.Tasks[i] = evaluateTask(s.Tasks[i], f, index, opt)
			}
		}()
	}
feed:
	for i := range s.Tasks {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("probe: evaluate %s: %w", s.Name, err)
	}
	res.summarise()
	return res, nil
}

// evaluateTask scales, cross-validates C, refits and scores one task.
func evaluateTask(t *Task, f *Features, index map[string]int, opt Options) TaskResult {
	d := f.Dim
	n := d + 1 // features and the bias feature (intercept_scaling = 1)
	gather := func(set []Sample) ([]float64, []int) {
		x := make([]float64, len(set)*n)
		y := make([]int, len(set))
		for i, smp := range set {
			row := f.Row(index[smp.ID])
			for j, v := range row {
				x[i*n+j] = float64(v)
			}
			y[i] = smp.Label
		}
		return x, y
	}
	xtr, ytr := gather(t.Train)
	xte, yte := gather(t.Test)
	// Scale and normalise the feature columns only; the bias column is added afterwards.
	feat := func(x []float64, rows int) []float64 {
		out := make([]float64, rows*d)
		for i := 0; i < rows; i++ {
			copy(out[i*d:(i+1)*d], x[i*n:i*n+d])
		}
		return out
	}
	ftr, fte := feat(xtr, len(ytr)), feat(xte, len(yte))
	sc := fitScaler(ftr, len(ytr), d)
	sc.transform(ftr, len(ytr), d)
	sc.transform(fte, len(yte), d)
	normalizeRows(ftr, len(ytr), d)
	normalizeRows(fte, len(yte), d)
	for i := range ytr {
		copy(xtr[i*n:i*n+d], ftr[i*d:(i+1)*d])
		xtr[i*n+d] = 1
	}
	for i := range yte {
		copy(xte[i*n:i*n+d], fte[i*d:(i+1)*d])
		xte[i*n+d] = 1
	}

	r := TaskResult{Task: t.Name, Cluster: t.Cluster, Subcluster: t.Subcluster, NTrain: len(ytr), NTest: len(yte)}
	folds := stratifiedFolds(ytr, opt.Folds)
	bestC, bestScore := opt.Cs[0], -1.0
	for _, c := range opt.Cs {
		var sum float64
		for k := 0; k < opt.Folds; k++ {
			trIdx, teIdx := split(folds, k)
			xa, ya := subset(xtr, ytr, n, trIdx)
			xb, yb := subset(xtr, ytr, n, teIdx)
			m := fit(opt.Classifier, xa, n, ya, c, opt.Tol, opt.MaxIter)
			if !m.converged {
				r.NotConverged++
			}
			sum += float64(m.correct(xb, n, yb)) / float64(len(yb))
		}
		// GridSearchCV's mean: numpy sums the fold scores left to right, then divides.
		score := sum / float64(opt.Folds)
		if score > bestScore { // strictly greater: ties keep the smaller C
			bestC, bestScore = c, score
		}
	}
	m := fit(opt.Classifier, xtr, n, ytr, bestC, opt.Tol, opt.MaxIter)
	if !m.converged {
		r.NotConverged++
	}
	r.C, r.CVAccuracy = bestC, bestScore
	pred := make([]int, len(yte))
	m.predict(xte, n, pred)
	r.Predictions = make([]Prediction, len(yte))
	k := 0
	for i, smp := range t.Test {
		r.Predictions[i] = Prediction{ID: smp.ID, Label: yte[i], Predicted: pred[i]}
		if pred[i] == yte[i] {
			k++
		}
	}
	r.Accuracy = float64(k) / float64(len(yte))
	return r
}

func subset(x []float64, y []int, n int, idx []int) ([]float64, []int) {
	xs := make([]float64, 0, len(idx)*n)
	ys := make([]int, 0, len(idx))
	for _, i := range idx {
		xs = append(xs, x[i*n:(i+1)*n]...)
		ys = append(ys, y[i])
	}
	return xs, ys
}

// summarise fills the group means and the overall mean from the per-task results.
func (r *Results) summarise() {
	group := func(key func(TaskResult) string) []GroupMean {
		sums := map[string]*GroupMean{}
		for _, t := range r.Tasks {
			k := key(t)
			if k == "" {
				continue
			}
			g := sums[k]
			if g == nil {
				g = &GroupMean{Name: k}
				sums[k] = g
			}
			g.Tasks++
			g.Accuracy += t.Accuracy
		}
		out := make([]GroupMean, 0, len(sums))
		for _, g := range sums {
			g.Accuracy /= float64(g.Tasks)
			out = append(out, *g)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out
	}
	r.Clusters = group(func(t TaskResult) string { return t.Cluster })
	r.Subclusters = group(func(t TaskResult) string { return t.Subcluster })
	r.Mean = 0
	for _, t := range r.Tasks {
		r.Mean += t.Accuracy
	}
	if len(r.Tasks) > 0 {
		r.Mean /= float64(len(r.Tasks))
	}
}
