package probe

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// sklearnSmall holds scikit-learn 1.2.1's answers on small problems (probe/testdata/
// sklearn_small.json, made by LinearSVC(dual=False, tol=1e-5) and StratifiedKFold(3)).
type sklearnSmall struct {
	SVM []struct {
		Name      string      `json:"name"`
		C         float64     `json:"C"`
		X         [][]float64 `json:"x"`
		Y         []int       `json:"y"`
		Coef      []float64   `json:"coef"`
		Intercept float64     `json:"intercept"`
		NIter     int         `json:"n_iter"`
	} `json:"svm"`
	Folds []struct {
		Labels []int `json:"labels"`
		Folds  []int `json:"folds"`
	} `json:"folds"`
}

func loadSklearnSmall(t *testing.T) sklearnSmall {
	t.Helper()
	b, err := os.ReadFile("testdata/sklearn_small.json")
	if err != nil {
		t.Fatal(err)
	}
	var g sklearnSmall
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// withBias lays rows out as liblinear sees them: the features, then the bias feature 1.
func withBias(rows [][]float64) ([]float64, int) {
	n := len(rows[0]) + 1
	x := make([]float64, 0, len(rows)*n)
	for _, r := range rows {
		x = append(x, r...)
		x = append(x, 1)
	}
	return x, n
}

func TestLinearSVCMatchesSklearn(t *testing.T) {
	for _, c := range loadSklearnSmall(t).SVM {
		t.Run(c.Name, func(t *testing.T) {
			x, n := withBias(c.X)
			m := fit(LinearSVC, x, n, c.Y, c.C, 1e-5, 1000)
			want := append(append([]float64{}, c.Coef...), c.Intercept)
			for j := range want {
				if d := math.Abs(m.w[j] - want[j]); d > 1e-9+1e-7*math.Abs(want[j]) {
					t.Errorf("w[%d] = %.12g, sklearn %.12g", j, m.w[j], want[j])
				}
			}
			if m.iters != c.NIter {
				t.Errorf("%d Newton iterations, liblinear took %d", m.iters, c.NIter)
			}
		})
	}
}

// TestLinearSVCAnalytic: x = +1 (label 1) and x = -1 (label 0) with the regularised bias; by
// symmetry b = 0 and a minimises a^2/2 + 2C(1-a)^2, so a = 4C/(1+4C).
func TestLinearSVCAnalytic(t *testing.T) {
	for _, c := range []float64{1e-4, 0.01, 1, 1000} {
		x, n := withBias([][]float64{{1}, {-1}})
		m := fit(LinearSVC, x, n, []int{1, 0}, c, 1e-5, 1000)
		want := 4 * c / (1 + 4*c)
		// The stop rule is relative to the first gradient (2*2C at w = 0): ||g|| <= 1e-5*4C/2.
		if math.Abs(m.w[0]-want) > 1e-5*want || math.Abs(m.w[1]) > 1e-12 {
			t.Errorf("C=%g: w = %v, want [%g 0]", c, m.w, want)
		}
	}
}

// TestDuplicatesDoubleC: with the squared hinge, every point twice is the same objective as
// every point once with twice the cost.
func TestDuplicatesDoubleC(t *testing.T) {
	g := loadSklearnSmall(t).SVM[2] // non-separable
	var rows [][]float64
	var y []int
	for i := range g.X {
		rows = append(rows, g.X[i], g.X[i])
		y = append(y, g.Y[i], g.Y[i])
	}
	xd, n := withBias(rows)
	x1, _ := withBias(g.X)
	for _, c := range []float64{0.01, 1, 100} {
		twice := fit(LinearSVC, xd, n, y, c, 1e-10, 1000)
		once := fit(LinearSVC, x1, n, g.Y, 2*c, 1e-10, 1000)
		for j := range once.w {
			if math.Abs(twice.w[j]-once.w[j]) > 1e-8 {
				t.Errorf("C=%g: w[%d] = %.10g with duplicates, %.10g with 2C", c, j, twice.w[j], once.w[j])
			}
		}
	}
}

func TestSeparableIsSeparated(t *testing.T) {
	g := loadSklearnSmall(t).SVM[1] // separable, C=1000
	x, n := withBias(g.X)
	for _, kind := range []Classifier{LinearSVC, LogReg} {
		m := fit(kind, x, n, g.Y, 1000, 1e-5, 1000)
		if k := m.correct(x, n, g.Y); k != len(g.Y) {
			t.Errorf("%s: %d of %d training points right on a separable problem", kind, k, len(g.Y))
		}
	}
}

// TestLogRegGradientVanishes checks the logistic objective's optimum by its gradient.
func TestLogRegGradientVanishes(t *testing.T) {
	g := loadSklearnSmall(t).SVM[2]
	x, n := withBias(g.X)
	m := fit(LogReg, x, n, g.Y, 1, 1e-10, 1000)
	y := make([]float64, len(g.Y))
	for i, l := range g.Y {
		y[i] = float64(2*l - 1)
	}
	obj := newL2LR(&problem{x: x, l: len(g.Y), n: n, y: y, c: 1})
	grad := make([]float64, n)
	obj.fun(make([]float64, n))
	obj.grad(make([]float64, n), grad)
	g0 := nrm2(grad)
	obj.fun(m.w)
	obj.grad(m.w, grad)
	// TRON stops once the reductions fall under 1e-12 of f, a little short of tol 1e-10.
	if gn := nrm2(grad); gn > 1e-6*g0 {
		t.Errorf("|grad| = %g at the logistic solution, %g at 0", gn, g0)
	}
}

func TestStratifiedFoldsMatchSklearn(t *testing.T) {
	for _, c := range loadSklearnSmall(t).Folds {
		got := stratifiedFolds(c.Labels, 3)
		for i := range got {
			if got[i] != c.Folds[i] {
				t.Errorf("labels %v: folds %v, sklearn %v", c.Labels, got, c.Folds)
				break
			}
		}
	}
}

func TestNrm2(t *testing.T) {
	for _, c := range []struct {
		x    []float64
		want float64
	}{
		{[]float64{3, 4}, 5},
		{[]float64{0, 0}, 0},
		{[]float64{1e200, 1e200}, math.Sqrt2 * 1e200},
		{[]float64{1e-200, -1e-200}, math.Sqrt2 * 1e-200},
	} {
		if got := nrm2(c.x); math.Abs(got-c.want) > 1e-15*c.want {
			t.Errorf("nrm2(%v) = %g, want %g", c.x, got, c.want)
		}
	}
}
