package report

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkBootstrap times one interval of the mean over tasks (one run) and one paired
// difference (two runs) with DefaultResamples resamples, on data the size of NeWT's test
// splits: 164 tasks of 110 test images (about 18,000 outcomes per run).
//
//	go test -tags openblas -run '^$' -bench Bootstrap ./report/
func BenchmarkBootstrap(b *testing.B) {
	const tasks, images = 164, 110
	rng := rand.New(rand.NewPCG(1, 2))
	names := make([]string, tasks)
	runs := []map[string]taskOutcomes{{}, {}}
	for t := range names {
		names[t] = fmt.Sprintf("task%03d", t)
		for _, r := range runs {
			o := taskOutcomes{}
			for i := range images {
				o.images = append(o.images, fmt.Sprintf("img%03d", i))
				o.correct = append(o.correct, rng.Float64() < 0.7)
			}
			r[names[t]] = o
		}
	}
	all := make([]int, tasks)
	for i := range all {
		all[i] = i
	}
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("runs=%d", n), func(b *testing.B) {
			s := newResampler(names, runs[:n])
			for b.Loop() {
				s.bootstrap(DefaultResamples, newRNG(0, "bench"), 1, func(_ *rand.Rand, acc [][]float64, out []float64) {
					out[0] = meanOver(acc[n-1], all) - meanOver(acc[0], all)
				})
			}
			b.ReportMetric(float64(DefaultResamples*tasks*images)*float64(b.N)/b.Elapsed().Seconds(), "draws/s")
		})
	}
}
