package trainer

import (
	"math"
	"testing"

	"gorgonia.org/tensor"
)

func testParams(kind paramKind, w ...float32) []*param {
	return []*param{{name: "p", kind: kind, value: tensor.New(tensor.WithShape(len(w)), tensor.WithBacking(append([]float32(nil), w...)))}}
}

// TestOptimizerSteps checks one or two updates against the formulas of PyTorch's SGD and
// AdamW and SimCLR's LARS, written out by hand.
func TestOptimizerSteps(t *testing.T) {
	const lr, mu, wd = 0.1, 0.9, 0.01
	w0, g := float32(2), float32(0.5)
	tests := []struct {
		name  string
		kind  string
		pk    paramKind
		steps int
		want  float64
	}{
		{"sgd", "sgd", kindWeight, 2, func() float64 {
			w, b := 2.0, 0.0
			for i := 0; i < 2; i++ {
				gd := 0.5 + wd*w
				b = mu*b + gd
				w -= lr * b
			}
			return w
		}()},
		{"sgd leaves batch norm undecayed", "sgd", kindBNScale, 1, 2 - lr*0.5},
		{"adamw", "adamw", kindWeight, 1, 2*(1-lr*wd) - lr*1/(1+adamEps)},
		{"lars adapts weights", "lars", kindWeight, 1, 2 - lr*larsEta*2/(0.5+wd*2)*(0.5+wd*2)},
		{"lars skips bias", "lars", kindBias, 1, 2 - lr*0.5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps := testParams(tc.pk, w0)
			o, err := newOptimizer(tc.kind, mu, wd, ps)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < tc.steps; i++ {
				o.step(ps, [][]float32{{g}}, lr)
			}
			if got := float64(ps[0].data()[0]); math.Abs(got-tc.want) > 1e-5 {
				t.Fatalf("w = %.7f, want %.7f", got, tc.want)
			}
		})
	}
	if _, err := newOptimizer("rmsprop", mu, wd, nil); err == nil {
		t.Fatal("unknown optimizer accepted")
	}
}

func TestSchedule(t *testing.T) {
	tests := []struct {
		step, warmup, total int
		want                float64
	}{
		{0, 4, 10, 0.25},
		{3, 4, 10, 1},
		{4, 4, 10, 1},
		{7, 4, 10, 0.5},
		{10, 4, 10, 0},
		{5, 0, 10, 0.5},
	}
	for _, tc := range tests {
		if got := schedule(1, tc.step, tc.warmup, tc.total); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("schedule(step %d, warmup %d, total %d) = %v, want %v", tc.step, tc.warmup, tc.total, got, tc.want)
		}
	}
	if got := peakLR(0.3, 4096); math.Abs(got-4.8) > 1e-12 {
		t.Errorf("peak lr for 4096 = %v, want 4.8", got)
	}
}
