package experiments

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/natssl/natssl/experiments/metric"
)

// BenchmarkLogMetrics measures metric rows written per second through LogMetrics, in batches as
// a training loop writes them (keys per step: 4 like a typical log line, 64 like a detailed one).
func BenchmarkLogMetrics(b *testing.B) {
	for _, keys := range []int{4, 64} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			ctx := context.Background()
			db := openTemp(b)
			r, err := db.CreateRun(ctx, RunSpec{Name: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			values := make(map[string]float64, keys)
			for i := range keys {
				values[fmt.Sprintf("metric_%02d", i)] = float64(i)
			}
			b.ResetTimer()
			start := time.Now()
			for step := int64(0); step < int64(b.N); step++ {
				if err := r.LogMetrics(ctx, step, values); err != nil {
					b.Fatal(err)
				}
			}
			if err := r.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N*keys)/time.Since(start).Seconds(), "rows/s")
		})
	}
}

// BenchmarkListRuns measures listing 100 runs with their latest metrics and NeWT means.
func BenchmarkListRuns(b *testing.B) {
	ctx := context.Background()
	db := openTemp(b)
	for i := range 100 {
		r, err := db.CreateRun(ctx, RunSpec{Name: fmt.Sprint("run", i)})
		if err != nil {
			b.Fatal(err)
		}
		for step := int64(0); step < 100; step++ {
			if err := r.LogMetrics(ctx, step, map[string]float64{metric.Loss: 1, metric.ImagesPerS: 2}); err != nil {
				b.Fatal(err)
			}
		}
		if err := r.Finish(ctx, StatusFinished, ""); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		if _, err := db.ListRuns(ctx, ListOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
