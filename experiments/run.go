package experiments

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/internal/redact"
)

// Status is a run's place in its life cycle: RUNNING, then FINISHED, FAILED or KILLED.
type Status string

// The statuses a run can have.
const (
	StatusRunning  Status = "RUNNING"
	StatusFinished Status = "FINISHED"
	StatusFailed   Status = "FAILED"
	StatusKilled   Status = "KILLED"
)

// Terminal reports whether s ends a run.
func (s Status) Terminal() bool {
	return s == StatusFinished || s == StatusFailed || s == StatusKilled
}

// RunSpec describes a run being created. GitCommit, Host, PID and Command are filled in from
// the process when empty.
type RunSpec struct {
	Name, ConfigYAML, Command, GitCommit, Host string
	Seed                                       int64
	PID                                        int // the process writing the run
	Params                                     []configs.KeyValue
	Tags                                       map[string]string
}

// Metric buffering: LogMetrics writes its rows in one transaction once this many are waiting or
// once the oldest has waited flushInterval, whichever comes first.
const (
	flushRows     = 4096
	flushInterval = 2 * time.Second
)

// Run is one run being written. Its methods are safe for concurrent use (a training loop may log
// while another goroutine beats the heart).
type Run struct {
	db *DB
	id string

	mu        sync.Mutex
	pending   []metricRow
	lastFlush time.Time
}

type metricRow struct {
	key   string
	step  int64
	value float64
	at    string
}

// ID returns the run's id: 32 hexadecimal digits.
func (r *Run) ID() string { return r.id }

// CreateRun records a new run, RUNNING, with its params and tags, and returns it for writing.
func (db *DB) CreateRun(ctx context.Context, spec RunSpec) (*Run, error) {
	if spec.Host == "" {
		spec.Host, _ = os.Hostname()
	}
	if spec.PID == 0 {
		spec.PID = os.Getpid()
	}
	if spec.GitCommit == "" {
		commit, dirty := gitCommit(ctx)
		spec.GitCommit = commit
		if dirty {
			if spec.Tags == nil {
				spec.Tags = map[string]string{}
			}
			spec.Tags["git_dirty"] = "true"
		}
	}
	if spec.Command == "" {
		spec.Command = strings.Join(os.Args, " ")
	}
	// Nothing stored keeps a URL's credentials (an endpoint's user:password@ given by --set).
	spec.Command, spec.ConfigYAML = redact.String(spec.Command), redact.String(spec.ConfigYAML)
	id, err := newRunID()
	if err != nil {
		return nil, fmt.Errorf("experiments: create run: %w", err)
	}
	now := formatTime(db.now())
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return nil, db.wrap("create run in", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO runs (id, name, status, started_at, heartbeat_at, config_yaml, seed, git_commit, host, pid, command)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, spec.Name, StatusRunning, now, now, spec.ConfigYAML, spec.Seed, spec.GitCommit, spec.Host, spec.PID, spec.Command); err != nil {
		return nil, db.wrap("create run in", err)
	}
	if err := insertParams(ctx, tx, id, spec.Params); err != nil {
		return nil, db.wrap("create run in", err)
	}
	for k, v := range spec.Tags {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?)`, id, k, v); err != nil {
			return nil, db.wrap("create run in", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, db.wrap("create run in", err)
	}
	return &Run{db: db, id: id, lastFlush: db.now()}, nil
}

func insertParams(ctx context.Context, tx execer, id string, params []configs.KeyValue) error {
	for _, p := range params {
		if _, err := tx.ExecContext(ctx, `INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)
			ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value`, id, p.Key, redact.String(p.Value)); err != nil {
			return fmt.Errorf("param %s: %w", p.Key, err)
		}
	}
	return nil
}

// ReopenRun resumes writing run id (a full id; see ResolveRun for prefixes): the status goes
// back to RUNNING, the end time and error are cleared, and the heartbeat restarts. Metrics
// logged again for a step already recorded replace the old value.
func (db *DB) ReopenRun(ctx context.Context, id string) (*Run, error) {
	now := formatTime(db.now())
	res, err := db.sql.ExecContext(ctx, `UPDATE runs SET status = ?, ended_at = NULL, error = '', heartbeat_at = ? WHERE id = ?`,
		StatusRunning, now, id)
	if err != nil {
		return nil, db.wrap("reopen run "+id+" in", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, fmt.Errorf("experiments: reopen run %s in %s: %w", id, db.path, ErrNotFound)
	}
	return &Run{db: db, id: id, lastFlush: db.now()}, nil
}

// SetTag records a free-form key/value on the run (replacing an earlier value).
func (r *Run) SetTag(ctx context.Context, key, value string) error {
	if _, err := r.db.sql.ExecContext(ctx, `INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?)
		ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value`, r.id, key, value); err != nil {
		return r.db.wrap("tag run "+r.id+" in", err)
	}
	return nil
}

// LogMetrics buffers values at step and writes the buffer in one transaction when it is large
// or old enough; Flush, Heartbeat, RecordCheckpoint and Finish write it too. Logging a key again
// at the same step replaces the value.
func (r *Run) LogMetrics(ctx context.Context, step int64, values map[string]float64) error {
	now := r.db.now()
	at := formatTime(now)
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, v := range values {
		r.pending = append(r.pending, metricRow{key: k, step: step, value: v, at: at})
	}
	if len(r.pending) >= flushRows || now.Sub(r.lastFlush) >= flushInterval {
		return r.flushLocked(ctx)
	}
	return nil
}

// Flush writes the buffered metrics now.
func (r *Run) Flush(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.flushLocked(ctx)
}

// flushLocked writes the pending rows, the latest value of each key, and a heartbeat in one
// transaction: either all of a batch is in the database or none of it.
func (r *Run) flushLocked(ctx context.Context) error { return r.flushWith(ctx, nil) }

// flushWith is flushLocked with more statements (also) in the transaction; with also set, the
// transaction is made even when no rows are pending, and it is durable when it returns: its
// connection syncs the log at commit (synchronous FULL), as the database's NORMAL does not, so
// that a power cut after the caller acts on it (a checkpoint renamed into place) cannot undo it.
func (r *Run) flushWith(ctx context.Context, also func(tx *sql.Tx) error) error {
	r.lastFlush = r.db.now()
	if len(r.pending) == 0 && also == nil {
		return nil
	}
	var tx *sql.Tx
	var err error
	if also == nil {
		tx, err = r.db.sql.BeginTx(ctx, nil)
	} else {
		var conn *sql.Conn
		if conn, err = r.db.sql.Conn(ctx); err == nil {
			defer conn.Close()
			if _, err = conn.ExecContext(ctx, `PRAGMA synchronous = FULL`); err == nil {
				defer conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA synchronous = NORMAL`)
				tx, err = conn.BeginTx(ctx, nil)
			}
		}
	}
	if err != nil {
		return r.db.wrap("log metrics of run "+r.id+" in", err)
	}
	defer tx.Rollback()
	if err := insertMetrics(ctx, tx, r.id, r.pending); err != nil {
		return r.db.wrap("log metrics of run "+r.id+" in", err)
	}
	latest := make(map[string]metricRow)
	for _, m := range r.pending {
		if l, ok := latest[m.key]; !ok || m.step >= l.step {
			latest[m.key] = m
		}
	}
	for _, m := range latest {
		if _, err := tx.ExecContext(ctx, `INSERT INTO latest_metrics (run_id, key, step, value, at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (run_id, key) DO UPDATE SET step = excluded.step, value = excluded.value, at = excluded.at
			WHERE excluded.step >= latest_metrics.step`, r.id, m.key, m.step, m.value, m.at); err != nil {
			return r.db.wrap("log metrics of run "+r.id+" in", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET heartbeat_at = ? WHERE id = ?`, formatTime(r.db.now()), r.id); err != nil {
		return r.db.wrap("log metrics of run "+r.id+" in", err)
	}
	if also != nil {
		if err := also(tx); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return r.db.wrap("log metrics of run "+r.id+" in", err)
	}
	r.pending = r.pending[:0]
	return nil
}

// RecordCheckpoint records a checkpoint file written at step (replacing an earlier record of
// the same step, as after a resume) in one transaction with the buffered metrics: once it
// returns, every step up to the checkpoint is in the database. The trainer calls it before
// the file is renamed into place.
func (r *Run) RecordCheckpoint(ctx context.Context, step int64, path, sha256 string, bytes int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.flushWith(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO checkpoints (run_id, step, path, sha256, bytes, at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (run_id, step) DO UPDATE SET path = excluded.path, sha256 = excluded.sha256, bytes = excluded.bytes, at = excluded.at`,
			r.id, step, path, sha256, bytes, formatTime(r.db.now())); err != nil {
			return r.db.wrap(fmt.Sprintf("record checkpoint %s (step %d) of run %s in", path, step, r.id), err)
		}
		return nil
	})
}

// ForgetCheckpoint removes the record of the checkpoint file at path: pruned, or never written.
func (r *Run) ForgetCheckpoint(ctx context.Context, path string) error {
	if _, err := r.db.sql.ExecContext(ctx, `DELETE FROM checkpoints WHERE run_id = ? AND path = ?`, r.id, path); err != nil {
		return r.db.wrap(fmt.Sprintf("forget checkpoint %s of run %s in", path, r.id), err)
	}
	return nil
}

// ForgetMissingCheckpoints removes the records of the run's checkpoints whose files are gone
// (pruned by a natssl that did not forget them, deleted by hand, or recorded by a process
// killed before it renamed the file into place), and returns their paths.
func (r *Run) ForgetMissingCheckpoints(ctx context.Context) ([]string, error) {
	cks, err := r.db.Checkpoints(ctx, r.id)
	if err != nil {
		return nil, err
	}
	var gone []string
	for _, c := range cks {
		if _, err := os.Stat(c.Path); errors.Is(err, fs.ErrNotExist) {
			if err := r.ForgetCheckpoint(ctx, c.Path); err != nil {
				return gone, err
			}
			gone = append(gone, c.Path)
		}
	}
	return gone, nil
}

// Heartbeat marks the run alive now and writes buffered metrics. Call it at least every
// minute or so: a RUNNING run silent for DB.StaleAfter is reported as stale.
func (r *Run) Heartbeat(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.flushLocked(ctx); err != nil {
		return err
	}
	if _, err := r.db.sql.ExecContext(ctx, `UPDATE runs SET heartbeat_at = ? WHERE id = ?`, formatTime(r.db.now()), r.id); err != nil {
		return r.db.wrap("heartbeat of run "+r.id+" in", err)
	}
	return nil
}

// KeepAlive beats the run's heart every interval from a goroutine of its own, so that a run
// busy in one long step (or a long evaluation) is not shown as stale, until stop is called or
// ctx ends. stop waits for the goroutine to exit. report, when not nil, hears every beat's
// outcome (nil for a good one) on that goroutine. A failed beat is retried at the next tick:
// it never stops the caller's work.
func (r *Run) KeepAlive(ctx context.Context, every time.Duration, report func(error)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				err := r.Heartbeat(ctx)
				if report != nil && ctx.Err() == nil {
					report(err)
				}
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// Finish writes buffered metrics and ends the run with status (FINISHED, FAILED or KILLED);
// errMsg says why a run failed or was killed. It still writes when ctx is already cancelled
// (a run killed by Ctrl-C must be recorded as KILLED), within a bounded time. When the
// metrics cannot be written (a full disk), they are dropped and the status is still set,
// which a one-row update can do where a batch of rows could not; the error then says how many
// values were lost.
func (r *Run) Finish(ctx context.Context, status Status, errMsg string) error {
	if !status.Terminal() {
		return fmt.Errorf("experiments: finish run %s: status %q is not FINISHED, FAILED or KILLED", r.id, status)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), busyTimeout+10*time.Second)
	defer cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	flushErr := r.flushLocked(ctx)
	lost := 0
	if flushErr != nil {
		lost = len(r.pending)
		r.pending = r.pending[:0]
	}
	now := formatTime(r.db.now())
	end := func() error {
		_, err := r.db.sql.ExecContext(ctx, `UPDATE runs SET status = ?, error = ?, ended_at = ?, heartbeat_at = ? WHERE id = ?`,
			status, redact.String(errMsg), now, now, r.id)
		return err
	}
	err := end()
	if isFull(err) && r.db.releaseReserve() {
		err = end()
	}
	if err != nil {
		return r.db.wrap("finish run "+r.id+" in", err)
	}
	if flushErr != nil {
		return fmt.Errorf("experiments: run %s marked %s, but %d metric values could not be written: %w", r.id, status, lost, flushErr)
	}
	return nil
}

// newRunID returns 128 random bits in hexadecimal, like MLflow's run ids.
func newRunID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// gitCommit returns the commit checked out in the working directory and whether the tree has
// uncommitted changes; "" when git is missing or this is not a checkout (as in a container).
func gitCommit(ctx context.Context) (commit string, dirty bool) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "--verify", "HEAD").Output()
	if err != nil {
		return "", false
	}
	commit = strings.TrimSpace(string(out))
	st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output()
	return commit, err == nil && len(strings.TrimSpace(string(st))) > 0
}
