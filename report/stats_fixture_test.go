package report

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
)

// The statistics fixture: a suite of 10 tasks in 3 clusters, and runs recorded through the
// experiments API with per-image outcomes, as natssl eval records them.
//
//	base-s1, base-s2  the default config, seeds 1 and 2
//	wide-s1, wide-s2  model.width 64, seeds 1 and 2: right on every image base-s1 gets
//	                  right and on a few more, in every task
//	old               train.lr 0.5, evaluated without outcomes (as natssl did before)
//
// In task i (of n_i = 40 + 4i test images, shuffled by a fixed permutation), base-s<s> gets the
// first baseRight(i, s) images right and wide-s<s> the first wideRight(i, s).
const statsTasks = 10

func statsTaskName(i int) string { return fmt.Sprintf("task%02d", i) }
func statsCluster(i int) string  { return []string{"Birds", "Plants", "Fungi"}[i%3] }
func statsSub(i int) string      { return []string{"age", "species"}[i%2] }
func statsN(i int) int           { return 40 + 4*i }
func baseRight(i, seed int) int  { return statsN(i)*(60+2*(i%5))/100 + 3*(seed-1) }
func wideRight(i, seed int) int  { return baseRight(i, seed) + 4 + i%3 }

// statsAccuracy is a run's accuracy on task i.
func statsAccuracy(right func(int, int) int, i, seed int) float64 {
	return float64(right(i, seed)) / float64(statsN(i))
}

func newStatsFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	db, path := openTestDB(t)
	defer db.Close()
	f := &fixture{path: path, ids: map[string]string{}}
	record := func(name string, seed int, edit func(*configs.Config), right func(int, int) int, outcomes bool) {
		cfg := configs.Default()
		cfg.Run.Name, cfg.Run.Seed = name, int64(seed)
		if edit != nil {
			edit(cfg)
		}
		r, err := db.CreateRun(ctx, experiments.RunSpec{Name: name, Params: cfg.Flatten(), Seed: cfg.Run.Seed, Command: "natssl train"})
		if err != nil {
			t.Fatal(err)
		}
		f.ids[name] = r.ID()
		var evals []experiments.Eval
		var outs []experiments.Outcome
		for i := range statsTasks {
			task := statsTaskName(i)
			evals = append(evals, experiments.Eval{CheckpointStep: 100, Suite: experiments.SuiteNeWT, Task: task, Cluster: statsCluster(i),
				Subcluster: statsSub(i), Metric: experiments.MetricAccuracy, Value: statsAccuracy(right, i, seed)})
			order := rand.New(rand.NewPCG(uint64(i), 7)).Perm(statsN(i))
			for k, img := range order {
				o := experiments.Outcome{CheckpointStep: 100, Suite: experiments.SuiteNeWT, Task: task,
					Image: fmt.Sprintf("img%04d", img), Label: img % 2}
				o.Predicted = o.Label
				if k >= right(i, seed) {
					o.Predicted = 1 - o.Label
				}
				outs = append(outs, o)
			}
		}
		if !outcomes {
			outs = nil
		}
		if err := db.RecordEvaluation(ctx, r.ID(), evals, outs); err != nil {
			t.Fatal(err)
		}
		if err := r.Finish(ctx, experiments.StatusFinished, ""); err != nil {
			t.Fatal(err)
		}
	}
	wide := func(c *configs.Config) { c.Model.Width = 64 }
	record("base-s1", 1, nil, baseRight, true)
	record("base-s2", 2, nil, baseRight, true)
	record("wide-s1", 1, wide, wideRight, true)
	record("wide-s2", 2, wide, wideRight, true)
	record("wide-s1-again", 1, wide, wideRight, true) // wide-s1 trained again: the same answers, another id
	record("old", 1, func(c *configs.Config) { c.Train.LR = 0.5 }, baseRight, false)
	return f
}

// statsMean is a run's mean accuracy over the tasks.
func statsMean(right func(int, int) int, seed int) float64 {
	var sum float64
	for i := range statsTasks {
		sum += statsAccuracy(right, i, seed)
	}
	return sum / statsTasks
}
