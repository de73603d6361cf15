package report

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func TestWilson(t *testing.T) {
	tests := []struct {
		name   string
		right  int
		n      int
		ok     bool
		lo, hi float64 // when ok (SciPy's values)
	}{
		{"no trials", 0, 0, false, 0, 0},
		{"more right than trials", 3, 2, false, 0, 0},
		{"negative", -1, 4, false, 0, 0},
		{"none right starts at 0", 0, 20, true, 0, 0.16112515805281935},
		{"all right ends at 1", 20, 20, true, 0.8388748419471808, 1},
		{"half of 100", 50, 100, true, 0.4038315303659956, 0.5961684696340044},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := wilson(tt.right, tt.n)
			if got.OK != tt.ok {
				t.Fatalf("wilson(%d, %d) = %+v, want ok %v", tt.right, tt.n, got, tt.ok)
			}
			if tt.ok && (math.Abs(got.Lo-tt.lo) > 1e-12 || math.Abs(got.Hi-tt.hi) > 1e-12) {
				t.Errorf("wilson(%d, %d) = [%.14f, %.14f], want [%v, %v]", tt.right, tt.n, got.Lo, got.Hi, tt.lo, tt.hi)
			}
		})
	}
	// Symmetric in right and wrong, and always around the observed share.
	for n := 1; n <= 60; n++ {
		for k := 0; k <= n; k++ {
			a, b := wilson(k, n), wilson(n-k, n)
			p := float64(k) / float64(n)
			if math.Abs(a.Lo-(1-b.Hi)) > 1e-12 || !(a.Lo <= p && p <= a.Hi) || a.Lo < 0 || a.Hi > 1 {
				t.Fatalf("wilson(%d, %d) = %+v, wilson(%d, %d) = %+v", k, n, a, n-k, n, b)
			}
		}
	}
}

func TestSignTest(t *testing.T) {
	tests := []struct {
		won, lost int
		want      float64
	}{
		{0, 0, 1},
		{5, 5, 1},
		{1, 0, 1},
		{2, 0, 0.5},
		{0, 3, 0.25},
		{10, 0, 2.0 / 1024},
		{9, 1, 22.0 / 1024},
		{1, 9, 22.0 / 1024},
		{6, 4, 772.0 / 1024}, // 2 * (1+10+45+120+210) / 1024, ties never counted
		{164, 0, math.Ldexp(1, -163)},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d won %d lost", tt.won, tt.lost), func(t *testing.T) {
			if got := signTest(tt.won, tt.lost); got != tt.want {
				t.Errorf("signTest(%d, %d) = %v, want %v", tt.won, tt.lost, got, tt.want)
			}
		})
	}
}

func TestPercentileInterval(t *testing.T) {
	seq := func(n int) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = float64(n - i) // descending: the function sorts
		}
		return out
	}
	tests := []struct {
		name   string
		values []float64
		want   Interval
	}{
		{"1..101", seq(101), Interval{Lo: 3.5, Hi: 98.5, OK: true}},
		{"1..2", seq(2), Interval{Lo: 1.025, Hi: 1.975, OK: true}},
		{"NaN left out", []float64{math.NaN(), 1, 2, math.NaN()}, Interval{Lo: 1.025, Hi: 1.975, OK: true}},
		{"one value", []float64{4}, Interval{}},
		{"all NaN", []float64{math.NaN(), math.NaN()}, Interval{}},
	}
	// A difference of means that is exactly zero, summed in another order: the endpoint is 0,
	// not -1.1e-16, so the interval holds zero and the difference is within noise.
	x := []float64{0.1, 0.2, 0.3} // variables: constants would be summed exactly
	zero := (x[2] + x[1] + x[0]) - (x[0] + x[1] + x[2])
	if zero == 0 {
		t.Fatal("the floating-point zero is exact")
	}
	diffs := []float64{-0.02, -0.01, zero, zero, zero}
	if iv := percentileInterval(diffs); iv.Hi != 0 || iv.Lo >= 0 {
		t.Errorf("%+v, want an upper end of exactly 0", iv)
	}
	c := Comparison{A: "a", B: "b", Delta: -0.01, CI: percentileInterval(diffs), Won: 1, Lost: 2, P: 1}
	if s := c.Sentence(); !strings.Contains(s, "within noise") {
		t.Errorf("%q, want within noise", s)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := percentileInterval(tt.values)
			if got.OK != tt.want.OK || math.Abs(got.Lo-tt.want.Lo) > 1e-12 || math.Abs(got.Hi-tt.want.Hi) > 1e-12 {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMeanSD(t *testing.T) {
	tests := []struct {
		values   []float64
		mean, sd float64 // NaN: want NaN
	}{
		{nil, math.NaN(), math.NaN()},
		{[]float64{0.7}, 0.7, math.NaN()},
		{[]float64{1, 2, 3, 4}, 2.5, math.Sqrt(5.0 / 3)},
		{[]float64{0.6, 0.6}, 0.6, 0},
	}
	same := func(a, b float64) bool { return math.IsNaN(a) && math.IsNaN(b) || math.Abs(a-b) < 1e-15 }
	for _, tt := range tests {
		mean, sd := meanSD(tt.values)
		if !same(mean, tt.mean) || !same(sd, tt.sd) {
			t.Errorf("meanSD(%v) = %v, %v; want %v, %v", tt.values, mean, sd, tt.mean, tt.sd)
		}
	}
}

// outcomesOf makes a task's outcomes on images prefix-0, prefix-1, ...: '1' right, '0' wrong.
func outcomesOf(prefix, right string) taskOutcomes {
	var o taskOutcomes
	for i, c := range right {
		o.images = append(o.images, fmt.Sprintf("%s-%02d", prefix, i))
		o.correct = append(o.correct, c == '1')
	}
	return o
}

func TestResampler(t *testing.T) {
	tasks := []string{"t1", "t2"}
	a := map[string]taskOutcomes{"t1": outcomesOf("t1", "1100110011"), "t2": outcomesOf("t2", "10101")}
	better := map[string]taskOutcomes{"t1": outcomesOf("t1", "1110110111"), "t2": outcomesOf("t2", "11101")}
	diff := func(_ *rand.Rand, acc [][]float64, out []float64) {
		out[0] = meanOver(acc[1], []int{0, 1}) - meanOver(acc[0], []int{0, 1})
	}
	t.Run("the same outcomes differ by exactly 0 in every resample", func(t *testing.T) {
		s := newResampler(tasks, []map[string]taskOutcomes{a, a})
		for _, v := range s.bootstrapDist(500, newRNG(1), 1, diff)[0] {
			if v != 0 {
				t.Fatalf("difference %v", v)
			}
		}
	})
	t.Run("paired: right wherever the other is, never behind", func(t *testing.T) {
		s := newResampler(tasks, []map[string]taskOutcomes{a, better})
		if s.unpaired != 0 {
			t.Fatalf("%d unpaired tasks", s.unpaired)
		}
		d := s.bootstrapDist(2000, newRNG(1), 1, diff)[0]
		positive := 0
		for _, v := range d {
			if v < 0 {
				t.Fatalf("difference %v in a paired resample", v)
			}
			if v > 0 {
				positive++
			}
		}
		if positive < 1500 {
			t.Errorf("only %d of 2000 resamples differ", positive)
		}
	})
	t.Run("other images are resampled apart", func(t *testing.T) {
		moved := map[string]taskOutcomes{"t1": outcomesOf("t1x", "1110110111"), "t2": better["t2"]}
		s := newResampler(tasks, []map[string]taskOutcomes{a, moved})
		if s.unpaired != 1 {
			t.Fatalf("%d unpaired tasks, want 1", s.unpaired)
		}
		negative := false
		for _, v := range s.bootstrapDist(2000, newRNG(1), 1, diff)[0] {
			negative = negative || v < 0
		}
		if !negative {
			t.Error("independent resamples of t1 never put the better run behind")
		}
	})
	t.Run("a task without outcomes is NaN", func(t *testing.T) {
		s := newResampler(tasks, []map[string]taskOutcomes{{"t1": a["t1"]}})
		acc := [][]float64{make([]float64, 2)}
		s.draw(newRNG(1), acc)
		if math.IsNaN(acc[0][0]) || !math.IsNaN(acc[0][1]) {
			t.Errorf("accuracies %v, want t1 a number and t2 NaN", acc[0])
		}
	})
	t.Run("one task's resampled accuracy has the binomial mean and variance", func(t *testing.T) {
		// 70 of 100 right: a resample's accuracy is Binomial(100, 0.7)/100.
		right := ""
		for i := range 100 {
			right += map[bool]string{true: "1", false: "0"}[i < 70]
		}
		s := newResampler([]string{"t"}, []map[string]taskOutcomes{{"t": outcomesOf("t", right)}})
		const b = 40000
		d := s.bootstrapDist(b, newRNG(3), 1, func(_ *rand.Rand, acc [][]float64, out []float64) { out[0] = acc[0][0] })[0]
		mean, sd := meanSD(d)
		wantSD := math.Sqrt(0.7 * 0.3 / 100)
		if math.Abs(mean-0.7) > 5*wantSD/math.Sqrt(b) || math.Abs(sd/wantSD-1) > 5/math.Sqrt(2*b) {
			t.Errorf("resampled accuracy %v ± %v, want 0.7 ± %v", mean, sd, wantSD)
		}
	})
	t.Run("seeded: the same seed and runs give the same resamples", func(t *testing.T) {
		s := newResampler(tasks, []map[string]taskOutcomes{a, better})
		one := s.bootstrapDist(100, newRNG(7, "x", "y"), 1, diff)
		two := s.bootstrapDist(100, newRNG(7, "x", "y"), 1, diff)
		other := s.bootstrapDist(100, newRNG(7, "x", "z"), 1, diff)
		if !reflect.DeepEqual(one, two) || reflect.DeepEqual(one, other) {
			t.Error("resamples do not follow the seed and keys")
		}
	})
}
