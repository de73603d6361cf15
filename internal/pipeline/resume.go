package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/trainer"
)

// Resume is where a training run continues from.
type Resume struct {
	// Checkpoint is nil when a run that stopped before its first checkpoint is taken up: it
	// starts again from step 0 under its id.
	Checkpoint *trainer.Checkpoint
	// RunID is the tracked run the checkpoint belongs to; "" when this tracker does not know
	// it (a checkpoint from another tracker or a SageMaker job): it continues as a new run.
	RunID string
	// Run is the tracker's record of RunID (nil when RunID is ""), for checks on the run
	// being taken over: its status, host and heartbeat.
	Run *experiments.RunInfo
}

// FindResume resolves what a training run continues from: "" (nothing: a new run),
// "auto" (the newest run named cfg.Run.Name whose latest checkpoint is short of its last
// step, or that stopped before its first checkpoint while RUNNING or KILLED; nothing when
// there is none), a run reference (an id or prefix, a name, NAME@K or latest: see
// experiments.DB.ResolveRun; its latest checkpoint, or from step 0 when it has none and did
// not finish), or a checkpoint file. It returns nil for a new run. Whether the run may be
// taken over (its process may still be alive) is decided when it is claimed.
func FindResume(ctx context.Context, db *experiments.DB, cfg *configs.Config, what string, obs Observer) (*Resume, error) {
	obs = orDiscard(obs)
	switch {
	case what == "":
		return nil, nil
	case what == "auto":
		runs, err := db.ListRuns(ctx, experiments.ListOptions{Name: globEscape(cfg.Run.Name)})
		if err != nil {
			return nil, err
		}
		for i := len(runs) - 1; i >= 0; i-- { // newest first
			r := runs[i]
			c, err := LatestCheckpoint(ctx, db, cfg, r.ID, obs)
			if err == nil && c.Header.Step < c.Header.TotalSteps {
				obs.Notice(fmt.Sprintf("resuming run %s (%s) from step %d (%s)", r.ID, r.Status, c.Header.Step, c.Path))
				return &Resume{Checkpoint: c, RunID: r.ID, Run: r}, nil
			}
			if errors.Is(err, trainer.ErrNoCheckpoint) && (r.Status == experiments.StatusRunning || r.Status == experiments.StatusKilled) {
				return takeUp(r, obs), nil
			}
		}
		obs.Notice(fmt.Sprintf("--resume auto: no run named %q left a checkpoint short of its last step; starting a new run", cfg.Run.Name))
		return nil, nil
	}
	if st, err := os.Stat(what); err == nil && !st.IsDir() {
		c, err := trainer.ReadCheckpoint(what)
		if err != nil {
			return nil, err
		}
		r := &Resume{Checkpoint: c}
		if c.Header.RunID != "" {
			// A checkpoint from another tracker continues as a new run.
			r.RunID, r.Run, _ = findRun(ctx, db, c.Header.RunID)
		}
		return r, nil
	}
	id, run, err := findRun(ctx, db, what)
	if err != nil {
		return nil, refuse("train: --resume %s: not a checkpoint file, and %w", what, err)
	}
	c, err := LatestCheckpoint(ctx, db, cfg, id, obs)
	if errors.Is(err, trainer.ErrNoCheckpoint) && run.Status != experiments.StatusFinished {
		return takeUp(run, obs), nil
	}
	if err != nil {
		return nil, fmt.Errorf("train: resume %w", err)
	}
	obs.Notice(fmt.Sprintf("resuming run %s from step %d (%s)", id, c.Header.Step, c.Path))
	return &Resume{Checkpoint: c, RunID: id, Run: run}, nil
}

// takeUp resumes a run that stopped before its first checkpoint: from step 0, under its id.
func takeUp(r *experiments.RunInfo, obs Observer) *Resume {
	obs.Notice(fmt.Sprintf("taking up run %s (%s), which stopped before its first checkpoint: it starts again from step 0", r.ID, r.Status))
	return &Resume{RunID: r.ID, Run: r}
}

// findRun resolves a run reference to the run's record.
func findRun(ctx context.Context, db *experiments.DB, ref string) (string, *experiments.RunInfo, error) {
	id, err := db.ResolveRun(ctx, ref)
	if err != nil {
		return "", nil, err
	}
	runs, err := db.ListRuns(ctx, experiments.ListOptions{IDs: []string{id}})
	if err != nil {
		return "", nil, err
	}
	return id, runs[0], nil
}

// LatestCheckpoint is a run's latest checkpoint, for resuming and evaluating alike: the newest
// file of the folder its recorded checkpoints are in (else <run.out_dir>/<id>/checkpoints)
// that reads and verifies. A newer file that does not (torn by a crash, a copy or a full disk)
// is skipped with a notice naming it. The error wraps trainer.ErrNoCheckpoint when no file
// verifies.
func LatestCheckpoint(ctx context.Context, db *experiments.DB, cfg *configs.Config, runID string, obs Observer) (*trainer.Checkpoint, error) {
	dir := filepath.Join(cfg.Run.OutDir, runID, "checkpoints")
	cks, err := db.Checkpoints(ctx, runID)
	if err != nil {
		return nil, err
	}
	if len(cks) > 0 {
		dir = filepath.Dir(cks[len(cks)-1].Path)
	}
	c, err := latestIn(dir, orDiscard(obs))
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", runID, err)
	}
	return c, nil
}

// latestIn is the newest checkpoint of one folder that verifies; torn ones are skipped with a
// notice.
func latestIn(dir string, obs Observer) (*trainer.Checkpoint, error) {
	c, err := trainer.LatestCheckpoint(dir, func(p string, err error) {
		obs.Notice(fmt.Sprintf("skipping checkpoint %s: %v", p, err))
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no folder %s", trainer.ErrNoCheckpoint, dir)
	}
	return c, err
}

// globEscape quotes SQLite GLOB's special characters so that a run name matches itself.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '*' || r == '?' || r == '[' {
			b.WriteString("[" + string(r) + "]")
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
