package probe

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/floats"
)

// Classifier names the linear model fitted per task.
type Classifier string

const (
	// LinearSVC is the NeWT protocol's model: squared hinge loss, L2 penalty, primal solver.
	LinearSVC Classifier = "linearsvc"
	// LogReg is L2-regularised logistic regression, solved by the same trust-region Newton
	// method (scikit-learn's LogisticRegression(solver="liblinear")).
	LogReg Classifier = "logreg"
)

// ParseClassifier checks a classifier name from a flag or config.
func ParseClassifier(s string) (Classifier, error) {
	switch c := Classifier(s); c {
	case LinearSVC, LogReg:
		return c, nil
	}
	return "", fmt.Errorf("probe: unknown classifier %q (want %s or %s)", s, LinearSVC, LogReg)
}

// problem is a dense binary problem in liblinear's form: rows of x (stride n, the last column
// the bias feature 1), y in {-1, +1}, and the per-sample cost c.
type problem struct {
	x    []float64
	l, n int
	y    []float64
	c    float64
}

func (p *problem) row(i int) []float64 { return p.x[i*p.n : (i+1)*p.n] }

// l2svc is liblinear's l2r_l2_svc_fun: 0.5 w'w + C sum max(0, 1 - y w'x)^2.
type l2svc struct {
	p     *problem
	z     []float64
	idx   []int // the rows with margin < 1 at the last grad
	wa    []float64
	zsubI []float64
}

func newL2SVC(p *problem) *l2svc {
	return &l2svc{p: p, z: make([]float64, p.l), idx: make([]int, 0, p.l), wa: make([]float64, p.l), zsubI: make([]float64, p.l)}
}

func (o *l2svc) dim() int { return o.p.n }

func (o *l2svc) fun(w []float64) float64 {
	p := o.p
	f := 0.0
	for _, v := range w {
		f += v * v
	}
	f /= 2
	for i := 0; i < p.l; i++ {
		o.z[i] = p.y[i] * floats.Dot(p.row(i), w)
		if d := 1 - o.z[i]; d > 0 {
			f += p.c * d * d
		}
	}
	return f
}

func (o *l2svc) grad(w, g []float64) {
	p := o.p
	o.idx = o.idx[:0]
	for i := 0; i < p.l; i++ {
		if o.z[i] < 1 {
			o.zsubI[len(o.idx)] = p.c * p.y[i] * (o.z[i] - 1)
			o.idx = append(o.idx, i)
		}
	}
	for j := range g {
		g[j] = 0
	}
	for k, i := range o.idx {
		floats.AddScaled(g, o.zsubI[k], p.row(i))
	}
	for j := range g {
		g[j] = w[j] + 2*g[j]
	}
}

func (o *l2svc) hv(s, hs []float64) {
	p := o.p
	for j := range hs {
		hs[j] = 0
	}
	for _, i := range o.idx {
		r := p.row(i)
		floats.AddScaled(hs, p.c*floats.Dot(r, s), r)
	}
	for j := range hs {
		hs[j] = s[j] + 2*hs[j]
	}
}

// l2lr is liblinear's l2r_lr_fun: 0.5 w'w + C sum log(1 + exp(-y w'x)).
type l2lr struct {
	p    *problem
	z, d []float64
}

func newL2LR(p *problem) *l2lr {
	return &l2lr{p: p, z: make([]float64, p.l), d: make([]float64, p.l)}
}

func (o *l2lr) dim() int { return o.p.n }

func (o *l2lr) fun(w []float64) float64 {
	p := o.p
	f := 0.0
	for _, v := range w {
		f += v * v
	}
	f /= 2
	for i := 0; i < p.l; i++ {
		o.z[i] = floats.Dot(p.row(i), w)
		yz := p.y[i] * o.z[i]
		if yz >= 0 {
			f += p.c * math.Log1p(math.Exp(-yz))
		} else {
			f += p.c * (-yz + math.Log1p(math.Exp(yz)))
		}
	}
	return f
}

func (o *l2lr) grad(w, g []float64) {
	p := o.p
	for j := range g {
		g[j] = 0
	}
	for i := 0; i < p.l; i++ {
		z := 1 / (1 + math.Exp(-p.y[i]*o.z[i]))
		o.d[i] = z * (1 - z)
		floats.AddScaled(g, p.c*(z-1)*p.y[i], p.row(i))
	}
	for j := range g {
		g[j] += w[j]
	}
}

func (o *l2lr) hv(s, hs []float64) {
	p := o.p
	for j := range hs {
		hs[j] = 0
	}
	for i := 0; i < p.l; i++ {
		r := p.row(i)
		floats.AddScaled(hs, p.c*o.d[i]*floats.Dot(r, s), r)
	}
	for j := range hs {
		hs[j] += s[j]
	}
}

// fitResult is a fitted binary linear model: w over the features and the bias feature.
type fitResult struct {
	w         []float64
	iters     int
	converged bool
}

// fit trains a binary classifier on rows (stride n, bias column last) with labels 0/1, the way
// scikit-learn hands the problem to liblinear: rows grouped by class (label 0 first, each group
// in its original order), label 0 as -1 and label 1 as +1, the solver's tolerance scaled by
// min(#pos, #neg)/l.
func fit(kind Classifier, x []float64, n int, labels []int, c, tol float64, maxIter int) fitResult {
	l := len(labels)
	p := &problem{x: make([]float64, 0, l*n), l: l, n: n, y: make([]float64, 0, l), c: c}
	pos := 0
	for _, want := range []int{0, 1} {
		for i, lab := range labels {
			if lab != want {
				continue
			}
			p.x = append(p.x, x[i*n:(i+1)*n]...)
			if lab == 1 {
				p.y = append(p.y, 1)
				pos++
			} else {
				p.y = append(p.y, -1)
			}
		}
	}
	eps := tol * float64(max(min(pos, l-pos), 1)) / float64(l)
	var obj objective
	switch kind {
	case LogReg:
		obj = newL2LR(p)
	default:
		obj = newL2SVC(p)
	}
	w := make([]float64, n)
	iters := tron(obj, w, eps, maxIter)
	return fitResult{w: w, iters: iters, converged: iters < maxIter}
}

// predict returns 1 where w'x > 0 and 0 elsewhere, as scikit-learn's decision rule does.
func (f fitResult) predict(x []float64, n int, out []int) {
	for i := range out {
		if floats.Dot(x[i*n:(i+1)*n], f.w) > 0 {
			out[i] = 1
		} else {
			out[i] = 0
		}
	}
}

// correct counts the rows of x that f classifies as labels says.
func (f fitResult) correct(x []float64, n int, labels []int) int {
	pred := make([]int, len(labels))
	f.predict(x, n, pred)
	k := 0
	for i, lab := range labels {
		if pred[i] == lab {
			k++
		}
	}
	return k
}
