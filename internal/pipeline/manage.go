package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/trainer"
)

// DeleteResult is what DeleteRun removed.
type DeleteResult struct {
	Run *experiments.RunInfo
	// Removed are the checkpoint files and folders removed (with purge).
	Removed []string
}

// DeleteRun removes a run and everything the tracker holds about it. A run a process still
// writes (experiments.DB.Live: RUNNING, its heartbeat fresh and, on this host, its process
// alive) is refused: stop it first; one whose process died may be deleted at once. With purge, its checkpoint files go too: the
// files the tracker recorded and the other checkpoints beside them in the run's own folder
// (<out_dir>/<id>/checkpoints), and that folder and its parent when left empty. Without purge
// the files stay where they are.
func DeleteRun(ctx context.Context, db *experiments.DB, id string, purge bool) (*DeleteResult, error) {
	runs, err := db.ListRuns(ctx, experiments.ListOptions{IDs: []string{id}})
	if err != nil {
		return nil, err
	}
	r := runs[0]
	if r.Status == experiments.StatusRunning && !r.Stale { // a process still writes it: experiments.DB.Live
		who := "a process"
		if r.PID != 0 {
			who = fmt.Sprintf("process %d", r.PID)
		}
		return nil, refuse("runs delete: run %s is RUNNING in %s on host %s (its heartbeat is %s old): stop it first", id,
			who, r.Host, time.Since(r.HeartbeatAt).Round(time.Second))
	}
	cks, err := db.DeleteRun(ctx, id)
	if err != nil {
		return nil, err
	}
	res := &DeleteResult{Run: r}
	if !purge {
		return res, nil
	}
	var errs []error
	remove := func(p string) {
		err := os.Remove(p)
		switch {
		case err == nil:
			res.Removed = append(res.Removed, p)
		case !errors.Is(err, fs.ErrNotExist):
			errs = append(errs, err)
		}
	}
	dirs := map[string]bool{}
	for _, c := range cks {
		remove(c.Path)
		dirs[filepath.Dir(c.Path)] = true
	}
	for dir := range dirs {
		// Only a folder that is this run's own: others may hold other runs' checkpoints (a
		// SageMaker job's /opt/ml/checkpoints).
		if filepath.Base(dir) != "checkpoints" || filepath.Base(filepath.Dir(dir)) != id {
			continue
		}
		left, _ := trainer.ListCheckpoints(dir)
		for _, p := range left {
			remove(p)
		}
		if os.Remove(dir) == nil {
			res.Removed = append(res.Removed, dir)
			if os.Remove(filepath.Dir(dir)) == nil {
				res.Removed = append(res.Removed, filepath.Dir(dir))
			}
		}
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("runs delete: run %s deleted from the tracker, but some of its checkpoints were not: %w", id, errors.Join(errs...))
	}
	return res, nil
}

// WatchEvent is what Watch reports: new metric rows, or the run's state when it changes.
type WatchEvent struct {
	Keys []string               // the columns of Row
	Row  *experiments.MetricRow // nil for a state change
	Run  *experiments.RunInfo   // the run as last read
	// Stale is set once when a RUNNING run's heartbeat stops.
	Stale bool
}

// Watch follows run id in the tracker from this process, reading the database every interval
// (no other process is started): it reports each row of the metrics keys as it lands, and
// returns the run once it has ended (FINISHED, FAILED or KILLED). ctx ends the watch, not the
// run.
func Watch(ctx context.Context, db *experiments.DB, id string, every time.Duration, keys []string, report func(WatchEvent)) (*experiments.RunInfo, error) {
	if len(keys) == 0 {
		return nil, refuse("runs watch: no metrics to show")
	}
	var last int64 = -1
	stale := false
	for {
		runs, err := db.ListRuns(ctx, experiments.ListOptions{IDs: []string{id}})
		if err != nil {
			return nil, err
		}
		r := runs[0]
		_, err = db.EachMetricRow(ctx, id, keys, last, func(row experiments.MetricRow) error {
			last = row.Step
			report(WatchEvent{Keys: keys, Row: &row, Run: r})
			return nil
		})
		if err != nil {
			return nil, err
		}
		if r.Status.Terminal() {
			return r, nil
		}
		if r.Stale != stale {
			stale = r.Stale
			report(WatchEvent{Keys: keys, Run: r, Stale: stale})
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(every):
		}
	}
}
