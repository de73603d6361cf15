package experiments

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments/metric"
)

// openTemp opens a fresh database in a test directory and closes it when the test ends.
func openTemp(t testing.TB) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "sub", "natssl.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestRunLifeCycle(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	cfg := configs.Default()
	yml, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	r, err := db.CreateRun(ctx, RunSpec{Name: "a", ConfigYAML: string(yml), Seed: 7, Params: cfg.Flatten(), Command: "natssl train"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.ID()) != 32 {
		t.Errorf("id %q: want 32 hex digits", r.ID())
	}
	for step := int64(1); step <= 10; step++ {
		if err := r.LogMetrics(ctx, step, map[string]float64{metric.Loss: 10 / float64(step), metric.LR: 0.1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.LogMetrics(ctx, 11, map[string]float64{metric.Loss: math.NaN()}); err != nil {
		t.Fatal(err)
	}
	if err := r.RecordCheckpoint(ctx, 10, "/ckpt/10.ckpt", "abc", 1234); err != nil {
		t.Fatal(err)
	}
	if err := r.Finish(ctx, StatusFailed, "loss is NaN at step 11"); err != nil {
		t.Fatal(err)
	}

	rec, err := db.GetRun(ctx, r.ID())
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != StatusFailed || rec.Error != "loss is NaN at step 11" || rec.Stale {
		t.Errorf("status %s error %q stale %v", rec.Status, rec.Error, rec.Stale)
	}
	if rec.Seed != 7 || rec.Name != "a" || rec.Command != "natssl train" || rec.Host == "" || rec.ConfigYAML != string(yml) {
		t.Errorf("metadata: %+v", rec.RunInfo)
	}
	if rec.EndedAt.IsZero() || rec.EndedAt.Before(rec.StartedAt) {
		t.Errorf("ended %v started %v", rec.EndedAt, rec.StartedAt)
	}
	if !reflect.DeepEqual(rec.Params, cfg.Flatten()) {
		t.Errorf("params differ from cfg.Flatten()")
	}
	if rec.Steps != 11 {
		t.Errorf("steps %d, want 11", rec.Steps)
	}
	if l := rec.Latest[metric.Loss]; l.Step != 11 || !math.IsNaN(l.Value) {
		t.Errorf("latest loss %+v, want NaN at 11", l)
	}
	if l := rec.Latest[metric.LR]; l.Step != 10 || l.Value != 0.1 {
		t.Errorf("latest lr %+v, want 0.1 at 10", l)
	}
	series, err := db.MetricSeries(ctx, r.ID(), metric.Loss)
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 11 || series[0].Value != 10 || series[4].Value != 2 || series[4].Step != 5 {
		t.Errorf("loss series %+v", series)
	}
	want := []Checkpoint{{Step: 10, Path: "/ckpt/10.ckpt", SHA256: "abc", Bytes: 1234}}
	if len(rec.Checkpoints) != 1 || rec.Checkpoints[0].At.IsZero() {
		t.Fatalf("checkpoints %+v", rec.Checkpoints)
	}
	rec.Checkpoints[0].At = time.Time{}
	if !reflect.DeepEqual(rec.Checkpoints, want) {
		t.Errorf("checkpoints %+v, want %+v", rec.Checkpoints, want)
	}

	// Resume: same id, RUNNING again, a re-logged step replaces its value.
	r2, err := db.ReopenRun(ctx, r.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.LogMetrics(ctx, 11, map[string]float64{metric.Loss: 0.5}); err != nil {
		t.Fatal(err)
	}
	if err := r2.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	rec, err = db.GetRun(ctx, r.ID())
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != StatusRunning || !rec.EndedAt.IsZero() || rec.Error != "" {
		t.Errorf("after reopen: status %s ended %v error %q", rec.Status, rec.EndedAt, rec.Error)
	}
	if l := rec.Latest[metric.Loss]; l.Value != 0.5 {
		t.Errorf("latest loss after resume %+v, want 0.5", l)
	}
	if _, err := db.ReopenRun(ctx, "0000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("reopen unknown: %v, want ErrNotFound", err)
	}
	if err := r2.Finish(ctx, StatusRunning, ""); err == nil {
		t.Error("Finish(RUNNING) accepted")
	}
}

func TestFinishAfterCancel(t *testing.T) {
	db := openTemp(t)
	ctx, cancel := context.WithCancel(context.Background())
	r, err := db.CreateRun(ctx, RunSpec{Name: "killed"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.LogMetrics(ctx, 1, map[string]float64{metric.Loss: 1}); err != nil {
		t.Fatal(err)
	}
	cancel() // Ctrl-C: the run must still be recorded as KILLED, with its buffered metrics
	if err := r.Finish(ctx, StatusKilled, "interrupted"); err != nil {
		t.Fatal(err)
	}
	rec, err := db.GetRun(context.Background(), r.ID())
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != StatusKilled || rec.Latest[metric.Loss].Value != 1 {
		t.Errorf("status %s latest %+v", rec.Status, rec.Latest)
	}
}

func TestStale(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := start
	db.now = func() time.Time { return now }
	alive, err := db.CreateRun(ctx, RunSpec{Name: "alive"})
	if err != nil {
		t.Fatal(err)
	}
	dead, err := db.CreateRun(ctx, RunSpec{Name: "dead"})
	if err != nil {
		t.Fatal(err)
	}
	done, err := db.CreateRun(ctx, RunSpec{Name: "done"})
	if err != nil {
		t.Fatal(err)
	}
	if err := done.Finish(ctx, StatusFinished, ""); err != nil {
		t.Fatal(err)
	}
	now = start.Add(DefaultStaleAfter + time.Minute)
	if err := alive.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	_ = dead
	runs, err := db.ListRuns(ctx, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range runs {
		got[r.Name] = r.DisplayStatus()
	}
	want := map[string]string{"alive": "RUNNING", "dead": "RUNNING (stale)", "done": "FINISHED"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	for _, r := range runs {
		if r.Name == "alive" && r.Duration() != DefaultStaleAfter+time.Minute {
			t.Errorf("alive duration %v", r.Duration())
		}
	}
}

func TestResolveRunPrefix(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	for _, id := range []string{"abc111", "abc222", "abd333"} {
		if _, err := db.sql.Exec(`INSERT INTO runs (id, status, started_at) VALUES (?, 'FINISHED', '2026-01-01T00:00:00.000Z')`, id); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		in, want string
		err      error
	}{
		{"abc111", "abc111", nil},
		{"abd", "abd333", nil},
		{"ABC2", "abc222", nil},
		{"abc", "", ErrAmbiguous},
		{"ab", "", ErrAmbiguous},
		{"fff", "", ErrNotFound},
		{"%", "", ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := db.ResolveRun(ctx, tt.in)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Errorf("ResolveRun(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestKeepAlive(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	r, err := db.CreateRun(ctx, RunSpec{Name: "long step"})
	if err != nil {
		t.Fatal(err)
	}
	before, err := db.GetRun(ctx, r.ID())
	if err != nil {
		t.Fatal(err)
	}
	stop := r.KeepAlive(ctx, 20*time.Millisecond, nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec, err := db.GetRun(ctx, r.ID())
		if err != nil {
			t.Fatal(err)
		}
		if rec.HeartbeatAt.After(before.HeartbeatAt) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("KeepAlive never beat")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop() // goleak in TestMain checks the goroutine is gone
}

// TestKeepAliveGoesOnAfterFailedBeats: beats that fail (here: the database is closed under the
// run) are reported, one at each tick, and the beating goes on until stop.
func TestKeepAliveGoesOnAfterFailedBeats(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	r, err := db.CreateRun(ctx, RunSpec{Name: "beats"})
	if err != nil {
		t.Fatal(err)
	}
	outcomes := make(chan error, 100)
	stop := r.KeepAlive(ctx, 10*time.Millisecond, func(err error) {
		select {
		case outcomes <- err:
		default:
		}
	})
	if err := <-outcomes; err != nil {
		t.Fatalf("first beat: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	failed := 0
	for failed < 3 {
		select {
		case err := <-outcomes:
			if err != nil {
				failed++
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("KeepAlive stopped beating after %d failed beats", failed)
		}
	}
	stop()
}
