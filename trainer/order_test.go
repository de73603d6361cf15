package trainer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// orderTracker records what the trainer tells its tracker, and checks the order of writes: when
// a checkpoint is recorded, its file must not be visible yet and every step up to it must have
// been logged.
type orderTracker struct {
	t         *testing.T
	mu        sync.Mutex
	logged    []int64
	recorded  map[string]int64
	forgotten []string
	failNext  bool // the next RecordCheckpoint fails, as on a full disk
}

func (o *orderTracker) LogMetrics(_ context.Context, step int64, _ map[string]float64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.logged = append(o.logged, step)
	return nil
}

func (o *orderTracker) RecordCheckpoint(_ context.Context, step int64, path, _ string, _ int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failNext {
		return errors.New("database or disk is full")
	}
	if _, err := os.Stat(path); err == nil {
		o.t.Errorf("checkpoint %s was visible before its record and metrics were committed", path)
	}
	if len(o.logged) == 0 || o.logged[len(o.logged)-1] != step {
		o.t.Errorf("checkpoint at step %d recorded before the metrics of that step (logged %v)", step, o.logged)
	}
	o.recorded[path] = step
	return nil
}

func (o *orderTracker) ForgetCheckpoint(_ context.Context, path string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.recorded, path)
	o.forgotten = append(o.forgotten, path)
	return nil
}

// TestCheckpointAfterItsRecord: a checkpoint becomes visible only after the tracker has its
// metrics and record (so a kill between the two can never leave a checkpoint whose steps are
// lost); pruned checkpoints are forgotten; a checkpoint the tracker could not record is not
// written; temporary files of killed writes are removed.
func TestCheckpointAfterItsRecord(t *testing.T) {
	cfg := tinyConfig()
	cfg.Train.Steps, cfg.Train.CheckpointEvery, cfg.Train.KeepCheckpoints, cfg.Train.LogEvery = 8, 2, 2, 1
	dir := t.TempDir()
	leftover := filepath.Join(dir, ".step-000000004.ckpt5577006791947779410")
	if err := os.WriteFile(leftover, []byte("half a checkpoint"), 0o600); err != nil {
		t.Fatal(err)
	}
	tr := &orderTracker{t: t, recorded: map[string]int64{}}
	res, err := Train(context.Background(), Options{Config: cfg, Source: &synthSource{batch: 8, size: 8, seed: 1, perEpoch: 64}, CheckpointDir: dir, Tracker: tr})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temporary file of a killed write is still there (%v)", err)
	}
	files, _ := ListCheckpoints(dir)
	var rec []string
	for p := range tr.recorded {
		rec = append(rec, p)
	}
	slices.Sort(rec)
	slices.Sort(files)
	if !slices.Equal(rec, files) || len(files) != 2 {
		t.Errorf("recorded %v, files %v: want the two kept checkpoints, and only them", rec, files)
	}
	if len(tr.forgotten) != 2 {
		t.Errorf("forgot %v, want the two pruned (steps 2 and 4)", tr.forgotten)
	}

	// A tracker that cannot commit (a full disk): no checkpoint file is written, and the run
	// fails saying why.
	cfg.Train.Steps = 10
	tr.failNext = true
	ck, err := ReadCheckpoint(res.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	src := &synthSource{batch: 8, size: 8, seed: 1, perEpoch: 64, pos: ck.Header.Position}
	_, err = Train(context.Background(), Options{Config: cfg, Source: src, CheckpointDir: dir, Tracker: tr, Resume: ck, Force: true})
	if err == nil || !strings.Contains(err.Error(), "disk is full") {
		t.Fatalf("Train with a failing tracker: %v", err)
	}
	if files, _ := ListCheckpoints(dir); len(files) != 2 || strings.Contains(strings.Join(files, " "), checkpointName(10)) {
		t.Errorf("checkpoints %v: none may be written that the tracker did not record", files)
	}
}

// TestCheckpointCommitsItsSteps: with rows every 5 steps and checkpoints every 2, the steps
// since the last row are logged before each checkpoint is recorded, so that a run resumed from
// any checkpoint has every step before it in the tracker.
func TestCheckpointCommitsItsSteps(t *testing.T) {
	cfg := tinyConfig()
	cfg.Train.Steps, cfg.Train.CheckpointEvery, cfg.Train.KeepCheckpoints, cfg.Train.LogEvery = 7, 2, 10, 5
	tr := &orderTracker{t: t, recorded: map[string]int64{}}
	if _, err := Train(context.Background(), Options{Config: cfg, Source: &synthSource{batch: 8, size: 8, seed: 1, perEpoch: 64},
		CheckpointDir: t.TempDir(), Tracker: tr}); err != nil {
		t.Fatal(err)
	}
	if want := []int64{2, 4, 5, 6, 7}; !slices.Equal(tr.logged, want) {
		t.Errorf("rows at steps %v, want %v (the log grid and every checkpoint)", tr.logged, want)
	}
}
