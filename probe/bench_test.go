package probe

import (
	"context"
	"math/rand/v2"
	"testing"
)

// syntheticTask is a task of n train and n test rows in d dimensions, two shifted Gaussians.
func syntheticSuite(tasks, n, d int, seed uint64) (*Suite, *Features) {
	rng := rand.New(rand.NewPCG(seed, 1))
	s := &Suite{Name: "synthetic"}
	f := &Features{Dim: d}
	id := 0
	for t := 0; t < tasks; t++ {
		task := &Task{Name: "t" + itoa(t), Cluster: "c" + itoa(t%3), Subcluster: "s" + itoa(t%2)}
		for i := 0; i < 2*n; i++ {
			label := i % 2
			for j := 0; j < d; j++ {
				v := rng.NormFloat64()
				if j%5 == 0 {
					v += 0.6 * float64(2*label-1)
				}
				f.Data = append(f.Data, float32(v))
			}
			smp := Sample{ID: "x" + itoa(id), Label: label}
			f.IDs = append(f.IDs, smp.ID)
			s.IDs = append(s.IDs, smp.ID)
			id++
			if i < n {
				task.Train = append(task.Train, smp)
			} else {
				task.Test = append(task.Test, smp)
			}
		}
		s.Tasks = append(s.Tasks, task)
	}
	return s, f
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// BenchmarkEvaluate fits the whole protocol (8 C x 3 folds + refit) per task, by feature size.
func BenchmarkEvaluate(b *testing.B) {
	for _, d := range []int{64, 256, 1024} {
		s, f := syntheticSuite(4, 200, d, 1)
		b.Run(itoa(d), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := Evaluate(context.Background(), s, f, Options{Workers: 1}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(s.Tasks)*b.N)/b.Elapsed().Seconds(), "tasks/s")
		})
	}
}
