package report

import (
	"context"
	"math"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/experiments/metric"
)

// The fixture: four runs recorded through the experiments API.
//
//	baseline  FINISHED, 30 steps, NeWT at checkpoints 10 and 30
//	wider     FINISHED, 30 steps, model.width 64 and train.lr 0.5, NeWT at 30
//	broken    FAILED at step 12 (loss NaN), no NeWT
//	live      RUNNING, 5 steps, no NeWT, train.lr 0.5
type fixture struct {
	path string
	ids  map[string]string
}

// The NeWT tasks: name, cluster, subcluster, and accuracy of baseline (step 30) and wider.
var fixtureTasks = []struct {
	task, cluster, sub string
	base, wider        float64
}{
	{"bird_species_a", "Birds", "species", 0.80, 0.90},
	{"bird_species_b", "Birds", "species", 0.60, 0.65},
	{"bird_age", "Birds", "age", 0.70, 0.55},
	{"plant_health", "Plants", "health", 0.50, 0.50},
	{"plant_species", "Plants", "species", 0.90, 0.95},
	{"fungi_edible", "Fungi", "context", 0.40, 0.20},
}

// fixtureConfig is the recipe the fixture's runs start from: the default config with the
// model, batch and lr that the expected tables and FLOPs are written for, whatever the demo
// recipe's defaults become.
func fixtureConfig() *configs.Config {
	cfg := configs.Default()
	cfg.Model.Width, cfg.Data.BatchSize, cfg.Train.LR = 32, 256, 0.001
	return cfg
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	db, path := openTestDB(t)
	defer db.Close()
	f := &fixture{path: path, ids: map[string]string{}}

	create := func(name string, edit func(*configs.Config)) *experiments.Run {
		cfg := fixtureConfig()
		cfg.Run.Name = name
		if edit != nil {
			edit(cfg)
		}
		yml, err := cfg.YAML()
		if err != nil {
			t.Fatal(err)
		}
		r, err := db.CreateRun(ctx, experiments.RunSpec{Name: name, ConfigYAML: string(yml), Params: cfg.Flatten(),
			Seed: cfg.Run.Seed, GitCommit: "0123456789abcdef", Host: "box-" + name, Command: "natssl train"})
		if err != nil {
			t.Fatal(err)
		}
		f.ids[name] = r.ID()
		return r
	}
	log := func(r *experiments.Run, steps int64, loss func(int64) float64, ips float64) {
		for s := int64(1); s <= steps; s++ {
			if err := r.LogMetrics(ctx, s, map[string]float64{
				metric.Loss: loss(s), metric.ImagesPerS: ips + float64(s%3), metric.LR: 0.1,
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	newt := func(id string, step int64, value func(i int) float64) {
		var evals []experiments.Eval
		for i, tk := range fixtureTasks {
			evals = append(evals, experiments.Eval{CheckpointStep: step, Suite: "newt", Task: tk.task, Cluster: tk.cluster,
				Subcluster: tk.sub, Metric: "accuracy", Value: value(i)})
		}
		if err := db.RecordEvals(ctx, id, evals); err != nil {
			t.Fatal(err)
		}
	}

	base := create("baseline", nil)
	log(base, 30, func(s int64) float64 { return 6 - float64(s)/10 }, 100)
	for _, step := range []int64{10, 20, 30} {
		if err := base.RecordCheckpoint(ctx, step, filepath.Join("runs", "baseline", "step-"+itoa(step)+".ckpt"), "feedface00112233", 2048*step); err != nil {
			t.Fatal(err)
		}
	}
	finish(t, base, experiments.StatusFinished, "")
	newt(f.ids["baseline"], 10, func(i int) float64 { return 0.5 })
	newt(f.ids["baseline"], 30, func(i int) float64 { return fixtureTasks[i].base })

	wider := create("wider", func(c *configs.Config) { c.Model.Width = 64; c.Train.LR = 0.5 })
	log(wider, 30, func(s int64) float64 { return 5.5 - float64(s)/10 }, 80)
	finish(t, wider, experiments.StatusFinished, "")
	newt(f.ids["wider"], 30, func(i int) float64 { return fixtureTasks[i].wider })

	broken := create("broken", nil)
	log(broken, 12, func(s int64) float64 {
		if s == 12 {
			return math.NaN()
		}
		return 6 - float64(s)/10
	}, 90)
	finish(t, broken, experiments.StatusFailed, "loss is NaN at step 12")

	live := create("live", func(c *configs.Config) { c.Train.LR = 0.5 })
	log(live, 5, func(s int64) float64 { return 7 - float64(s)/10 }, 120)
	if err := live.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	return f
}

func finish(t *testing.T, r *experiments.Run, s experiments.Status, msg string) {
	t.Helper()
	if err := r.Finish(context.Background(), s, msg); err != nil {
		t.Fatal(err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// build opens the fixture and builds a report of names (in this order).
func (f *fixture) build(t *testing.T, opt Options, names ...string) *Report {
	t.Helper()
	ctx := context.Background()
	db, err := experiments.OpenExisting(ctx, f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ids []string
	for _, n := range names {
		ids = append(ids, f.ids[n])
	}
	if opt.Now == nil {
		opt.Now = func() time.Time { return time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC) }
	}
	rep, err := Build(ctx, db, ids, opt)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// openTestDB opens a new tracker in a temporary folder; the caller closes it.
func openTestDB(t *testing.T) (*experiments.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "natssl.db")
	db, err := experiments.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return db, path
}
