package experiments

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/natssl/natssl/experiments/metric"
)

func TestEachMetricRow(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	r, err := db.CreateRun(ctx, RunSpec{Name: "a", GitCommit: "x"})
	if err != nil {
		t.Fatal(err)
	}
	for step := int64(1); step <= 4; step++ {
		m := map[string]float64{metric.Loss: float64(step), metric.LR: 0.1}
		if step == 2 {
			m = map[string]float64{"monitor/knn_top1": 0.5}
		}
		if step == 3 {
			m[metric.Loss] = math.NaN()
		}
		if err := r.LogMetrics(ctx, step, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	render := func(keys []string, from int64) (string, []string) {
		var b strings.Builder
		got, err := db.EachMetricRow(ctx, r.ID(), keys, from, func(row MetricRow) error {
			fmt.Fprintf(&b, "%d:", row.Step)
			for i, v := range row.Values {
				if row.Logged[i] {
					fmt.Fprintf(&b, " %v", v)
				} else {
					b.WriteString(" -")
				}
			}
			b.WriteString(";")
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return b.String(), got
	}
	tests := []struct {
		name     string
		keys     []string
		from     int64
		want     string
		wantKeys []string
	}{
		{"every key", nil, 0, "1: 1 0.1 -;2: - - 0.5;3: NaN 0.1 -;4: 4 0.1 -;", []string{"loss", "lr", "monitor/knn_top1"}},
		{"chosen keys, in their order", []string{"lr", "loss"}, 0, "1: 0.1 1;3: 0.1 NaN;4: 0.1 4;", []string{"lr", "loss"}},
		{"after step 2", []string{"loss"}, 2, "3: NaN;4: 4;", []string{"loss"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, keys := render(tt.keys, tt.from)
			if got != tt.want || !reflect.DeepEqual(keys, tt.wantKeys) {
				t.Errorf("got %q with keys %v, want %q with %v", got, keys, tt.want, tt.wantKeys)
			}
		})
	}
}
