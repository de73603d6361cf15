package trainer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/experiments/metric"
)

// trainSteps runs Train and returns the loss of every step it took.
func trainSteps(t *testing.T, ctx context.Context, opt Options) (*Result, map[int64]float64, error) {
	t.Helper()
	losses := map[int64]float64{}
	opt.OnStep = func(s StepInfo) { losses[s.Step] = s.Loss }
	res, err := Train(ctx, opt)
	return res, losses, err
}

func TestLossDecreasesOnFixedBatch(t *testing.T) {
	for _, opt := range []string{"adamw", "sgd", "lars"} {
		t.Run(opt, func(t *testing.T) {
			cfg := tinyConfig()
			cfg.Train.Optimizer = opt
			cfg.Train.Steps = 25
			cfg.Train.WarmupSteps = 1
			cfg.Train.CheckpointEvery = 0
			cfg.Train.LR = map[string]float64{"adamw": 0.02, "sgd": 0.5, "lars": 2}[opt]
			cfg.Train.WeightDecay = 1e-6
			// one batch per epoch, the same images every epoch: a fixed batch
			src := &synthSource{batch: 8, size: 8, seed: 3, perEpoch: 8}
			fixed := &fixedSource{inner: src}
			res, losses, err := trainSteps(t, context.Background(), Options{Config: cfg, Source: fixed, CheckpointDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			if res.Step != 25 || res.Reason != StopSteps {
				t.Fatalf("result %+v", res)
			}
			first, last := losses[1], losses[25]
			if !(last < first-0.1) {
				t.Fatalf("loss went from %.4f to %.4f", first, last)
			}
		})
	}
}

// fixedSource repeats its first batch.
type fixedSource struct {
	inner Source
	b     *Batch
}

func (f *fixedSource) Next(ctx context.Context) (*Batch, error) {
	if f.b == nil {
		b, err := f.inner.Next(ctx)
		if err != nil {
			return nil, err
		}
		f.b = b
	}
	return f.b, nil
}
func (f *fixedSource) Position() Position { return Position{} }

// TestExactResume: a run resumed from its step-3 checkpoint takes bit-for-bit the steps
// the uninterrupted run took, and records its checkpoints in a real tracker. With two
// replicas too: each computes independently and the gather sums in a fixed order.
func TestExactResume(t *testing.T) {
	for _, devices := range [][]string{{"cpu"}, {"cpu", "cpu"}} {
		t.Run(fmt.Sprintf("%d replicas", len(devices)), func(t *testing.T) { testExactResume(t, devices) })
	}
}

func testExactResume(t *testing.T, devices []string) {
	ctx := context.Background()
	cfg := tinyConfig()
	cfg.Train.Devices = devices
	cfg.Train.Steps = 7
	newSrc := func(start Position) *synthSource {
		return &synthSource{batch: 8, size: 8, seed: 5, perEpoch: 20, pos: start}
	}
	db, err := experiments.Open(ctx, filepath.Join(t.TempDir(), "runs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run, err := db.CreateRun(ctx, experiments.RunSpec{Name: "resume", Seed: cfg.Run.Seed})
	if err != nil {
		t.Fatal(err)
	}
	dirA := t.TempDir()
	_, full, err := trainSteps(t, ctx, Options{Config: cfg, Source: newSrc(Position{}), CheckpointDir: dirA, Tracker: run, RunID: run.ID()})
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Finish(ctx, experiments.StatusFinished, ""); err != nil {
		t.Fatal(err)
	}
	rec, err := db.GetRun(ctx, run.ID())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{metric.Loss, metric.LR, metric.ImagesPerS, metric.DataWait, metric.Epoch, metric.BatchesIncomplete} {
		if m, ok := rec.Latest[k]; !ok || m.Step != 7 {
			t.Errorf("metric %s: %+v (logged %v), want a value at step 7", k, m, ok)
		}
	}
	cks, err := db.Checkpoints(ctx, run.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(cks) != 3 || cks[0].Step != 3 || cks[2].Step != 7 {
		t.Fatalf("tracked checkpoints %+v, want steps 3, 6, 7", cks)
	}
	ck, err := ReadCheckpoint(cks[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	if ck.SHA256 != cks[0].SHA256 {
		t.Fatalf("tracked sha256 %s, file %s", cks[0].SHA256, ck.SHA256)
	}
	// Epoch 0 has 20 samples: batches of 8, 8, then a short 4 that is left out; step 3 is
	// the first batch of epoch 1.
	if ck.Header.Step != 3 || ck.Header.Position != (Position{Epoch: 1, Consumed: 8}) {
		t.Fatalf("checkpoint header step %d position %+v", ck.Header.Step, ck.Header.Position)
	}
	res, resumed, err := trainSteps(t, ctx, Options{Config: cfg, Source: newSrc(ck.Header.Position), CheckpointDir: t.TempDir(), Resume: ck})
	if err != nil {
		t.Fatal(err)
	}
	if res.Step != 7 {
		t.Fatalf("resumed run ended at step %d", res.Step)
	}
	for s := int64(4); s <= 7; s++ {
		if resumed[s] != full[s] {
			t.Errorf("step %d: resumed loss %v, uninterrupted %v", s, resumed[s], full[s])
		}
	}
	if _, ok := resumed[3]; ok {
		t.Errorf("resumed run repeated step 3")
	}
}

func TestCorruptNewestCheckpointFallsBack(t *testing.T) {
	cfg := tinyConfig()
	dir := t.TempDir()
	if _, err := Train(context.Background(), Options{Config: cfg, Source: &synthSource{batch: 8, size: 8, seed: 1, perEpoch: 64}, CheckpointDir: dir}); err != nil {
		t.Fatal(err)
	}
	paths, err := ListCheckpoints(dir)
	if err != nil || len(paths) != 2 {
		t.Fatalf("checkpoints %v, %v", paths, err)
	}
	for _, tc := range []struct {
		name    string
		corrupt func(path string) error
	}{
		{"flipped byte", func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 0x40
			return os.WriteFile(p, b, 0o644)
		}},
		{"truncated", func(p string) error { return os.Truncate(p, 100) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			for _, p := range paths {
				b, _ := os.ReadFile(p)
				os.WriteFile(filepath.Join(d, filepath.Base(p)), b, 0o644)
			}
			newest := filepath.Join(d, filepath.Base(paths[0]))
			if err := tc.corrupt(newest); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadCheckpoint(newest); !errors.Is(err, ErrCorruptCheckpoint) {
				t.Fatalf("reading the damaged file: %v, want ErrCorruptCheckpoint", err)
			}
			var skipped []string
			c, err := LatestCheckpoint(d, func(p string, _ error) { skipped = append(skipped, p) })
			if err != nil {
				t.Fatal(err)
			}
			if c.Header.Step != 3 || len(skipped) != 1 || skipped[0] != newest {
				t.Fatalf("got step %d, skipped %v", c.Header.Step, skipped)
			}
		})
	}
}

func TestResumeRefusesChangedMaths(t *testing.T) {
	cfg := tinyConfig()
	cfg.Train.Steps = 3
	dir := t.TempDir()
	res, err := Train(context.Background(), Options{Config: cfg, Source: &synthSource{batch: 8, size: 8, seed: 1, perEpoch: 64}, CheckpointDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ck, err := ReadCheckpoint(res.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	changed := tinyConfig()
	changed.Train.Steps = 3
	changed.Train.LR = 0.5
	changed.Model.ProjDim = 4  // unchanged
	changed.Train.LogEvery = 1 // not maths
	src := &synthSource{batch: 8, size: 8, seed: 1, perEpoch: 64, pos: ck.Header.Position}
	_, err = Train(context.Background(), Options{Config: changed, Source: src, CheckpointDir: dir, Resume: ck})
	var me *MismatchError
	if !errors.As(err, &me) || len(me.Diffs) != 1 || !strings.HasPrefix(me.Diffs[0], "train.lr: ") {
		t.Fatalf("error %v, want a mismatch naming train.lr only", err)
	}
	if !strings.Contains(err.Error(), "--resume-force") {
		t.Errorf("error does not say how to force: %v", err)
	}
	if _, err := Train(context.Background(), Options{Config: changed, Source: src, CheckpointDir: dir, Resume: ck, Force: true}); err != nil {
		t.Fatalf("forced resume: %v", err)
	}
}

func TestNaNLossStopsAndKeepsCheckpoint(t *testing.T) {
	cfg := tinyConfig()
	cfg.Train.Steps = 10
	dir := t.TempDir()
	src := &synthSource{batch: 8, size: 8, seed: 1, perEpoch: 64, nan: 5}
	res, err := Train(context.Background(), Options{Config: cfg, Source: src, CheckpointDir: dir})
	if !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), "step 5") {
		t.Fatalf("error %v, want ErrNonFinite at step 5", err)
	}
	paths, _ := ListCheckpoints(dir)
	if len(paths) != 1 || res.Checkpoint != paths[0] || filepath.Base(paths[0]) != checkpointName(3) {
		t.Fatalf("checkpoints %v (result %q), want only step 3", paths, res.Checkpoint)
	}
}

func TestCancelWritesCheckpoint(t *testing.T) {
	cfg := tinyConfig()
	cfg.Train.Steps = 100
	cfg.Train.CheckpointEvery = 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	opt := Options{Config: cfg, Source: &synthSource{batch: 8, size: 8, seed: 1, perEpoch: 64}, CheckpointDir: dir,
		OnStep: func(s StepInfo) {
			if s.Step == 4 {
				cancel()
			}
		}}
	res, err := Train(ctx, opt)
	if !errors.Is(err, context.Canceled) || res == nil || res.Reason != StopCanceled {
		t.Fatalf("result %+v, error %v", res, err)
	}
	c, err := LatestCheckpoint(dir, nil)
	if err != nil || c.Header.Step != 4 {
		t.Fatalf("latest checkpoint %v, %v: want step 4", c, err)
	}
}

func TestTimeLimitStopsWithCheckpoint(t *testing.T) {
	cfg := tinyConfig()
	cfg.Train.Steps = 1000
	cfg.Train.CheckpointEvery = 0
	cfg.Train.TimeLimit = 1 // a nanosecond: stops after the first step
	dir := t.TempDir()
	res, err := Train(context.Background(), Options{Config: cfg, Source: &synthSource{batch: 8, size: 8, seed: 1, perEpoch: 64}, CheckpointDir: dir})
	if err != nil || res.Reason != StopTimeLimit || res.Step != 1 {
		t.Fatalf("result %+v, error %v", res, err)
	}
	if c, err := LatestCheckpoint(dir, nil); err != nil || c.Header.Step != 1 {
		t.Fatalf("checkpoint %v, %v", c, err)
	}
}

func TestKeepCheckpoints(t *testing.T) {
	cfg := tinyConfig()
	cfg.Train.Steps = 9
	cfg.Train.CheckpointEvery = 2
	cfg.Train.KeepCheckpoints = 2
	dir := t.TempDir()
	if _, err := Train(context.Background(), Options{Config: cfg, Source: &synthSource{batch: 8, size: 8, seed: 1, perEpoch: 64}, CheckpointDir: dir}); err != nil {
		t.Fatal(err)
	}
	paths, _ := ListCheckpoints(dir)
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	if strings.Join(names, ",") != checkpointName(9)+","+checkpointName(8) {
		t.Fatalf("kept %v", names)
	}
	// Nothing else is left behind (no temporary files), and checkpoints are private.
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 2 {
		t.Fatalf("checkpoint folder holds %v (%v), want only the two kept", ents, err)
	}
	for _, p := range paths {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (%v), want -rw-------", p, fi.Mode().Perm(), err)
		}
	}
}

func TestDataSmallerThanABatch(t *testing.T) {
	cfg := tinyConfig()
	res, err := Train(context.Background(), Options{Config: cfg, Source: &synthSource{batch: 8, size: 8, seed: 1, perEpoch: 5}, CheckpointDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "without one full batch") || res.Step != 0 {
		t.Fatalf("result %+v, error %v", res, err)
	}
}
