package experiments

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/natssl/natssl/internal/redact"
)

// Owner is the process a run's record says is writing it.
type Owner struct {
	Status    Status
	Host      string
	PID       int // 0 for a run recorded before natssl kept process ids
	Heartbeat time.Time
}

// BusyError refuses to take over a run that another process is still writing: it is
// RUNNING, its heartbeat is fresh, and its process is alive (checked on this host, presumed
// on another).
type BusyError struct {
	RunID string
	Owner Owner
	Age   time.Duration // of the heartbeat
}

func (e *BusyError) Error() string {
	who := "process " + strconv.Itoa(e.Owner.PID)
	if e.Owner.PID == 0 {
		who = "a process"
	}
	return fmt.Sprintf("experiments: run %s is RUNNING in %s on host %s (heartbeat %s ago): another natssl is still training it; stop that one first, or take the run over with --resume-force if it is gone",
		e.RunID, who, e.Owner.Host, e.Age.Round(time.Second))
}

// Owner reads who writes run id.
func (db *DB) Owner(ctx context.Context, id string) (Owner, error) {
	var o Owner
	var status string
	var hb sql.NullString
	err := db.sql.QueryRowContext(ctx, `SELECT status, host, pid, heartbeat_at FROM runs WHERE id = ?`, id).Scan(&status, &o.Host, &o.PID, &hb)
	if errors.Is(err, sql.ErrNoRows) {
		return o, fmt.Errorf("experiments: run %s in %s: %w", id, db.path, ErrNotFound)
	}
	if err != nil {
		return o, db.wrap("read run "+id+" in", err)
	}
	o.Status, o.Heartbeat = Status(status), parseTime(hb)
	return o, nil
}

// Live reports whether a process still writes o's run: it is RUNNING with a heartbeat younger
// than StaleAfter, and its process is alive. On this host a process that is gone (or a zombie)
// is dead whatever its heartbeat says, so a run killed a moment ago is free at once; on
// another host (or for a run recorded before process ids were) the heartbeat is all there is
// to go by. It is the one rule for whether a run may be taken over (ClaimRun), deleted, or
// shown as stale (RunInfo.Stale).
func (db *DB) Live(o Owner) bool {
	if o.Status != StatusRunning || db.now().Sub(o.Heartbeat) > db.StaleAfter {
		return false
	}
	host, _ := os.Hostname()
	if o.Host != host || o.PID == 0 {
		return true
	}
	return o.PID == os.Getpid() || processAlive(o.PID)
}

// Busy reports whether o is another process still writing its run: Live, and not this
// process.
func (db *DB) Busy(o Owner) bool {
	host, _ := os.Hostname()
	return db.Live(o) && !(o.Host == host && o.PID == os.Getpid())
}

// owner is the writer the listing's record names.
func (ri *RunInfo) owner() Owner {
	return Owner{Status: ri.Status, Host: ri.Host, PID: ri.PID, Heartbeat: ri.HeartbeatAt}
}

// processAlive reports whether process pid of this host exists and is not a zombie.
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // no /proc: the signal said it exists
	}
	// "pid (comm) S ...": the state follows the last ')'.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z' && s[i+2] != 'X'
	}
	return true
}

// ClaimRun reopens run id for writing by this process, as ReopenRun does, and records this
// host and process as its owner, unless another process still writes it (see Busy): that is
// refused with *BusyError, unless force. The check and the claim are one compare-and-set on
// the run's record, so of two processes claiming the same run at once only one gets it.
func (db *DB) ClaimRun(ctx context.Context, id string, force bool) (*Run, error) {
	host, _ := os.Hostname()
	for attempt := 0; attempt < 10; attempt++ {
		o, err := db.Owner(ctx, id)
		if err != nil {
			return nil, err
		}
		if !force && db.Busy(o) {
			return nil, &BusyError{RunID: id, Owner: o, Age: db.now().Sub(o.Heartbeat)}
		}
		now := formatTime(db.now())
		res, err := db.sql.ExecContext(ctx, `UPDATE runs SET status = ?, ended_at = NULL, error = '', heartbeat_at = ?, host = ?, pid = ?
			WHERE id = ? AND status = ? AND host = ? AND pid = ? AND coalesce(heartbeat_at, '') = ?`,
			StatusRunning, now, host, os.Getpid(), id, o.Status, o.Host, o.PID, formatHeartbeat(o.Heartbeat))
		if err != nil {
			return nil, db.wrap("claim run "+id+" in", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return &Run{db: db, id: id, lastFlush: db.now()}, nil
		}
		// The record changed since it was read (another process claimed it, or beat): again.
	}
	return nil, fmt.Errorf("experiments: claim run %s in %s: its record keeps changing under another writer", id, db.path)
}

// formatHeartbeat is a heartbeat as stored, "" for none.
func formatHeartbeat(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return formatTime(t)
}

// Restart clears what a run recorded (metrics, checkpoints) and records spec's config, params
// and command in their place: the run starts again from step 0 under its id, as when a run
// killed before its first checkpoint is taken up.
func (r *Run) Restart(ctx context.Context, spec RunSpec) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = r.pending[:0]
	tx, err := r.db.sql.BeginTx(ctx, nil)
	if err != nil {
		return r.db.wrap("restart run "+r.id+" in", err)
	}
	defer tx.Rollback()
	for _, q := range []string{`DELETE FROM metrics WHERE run_id = ?`, `DELETE FROM latest_metrics WHERE run_id = ?`,
		`DELETE FROM checkpoints WHERE run_id = ?`, `DELETE FROM params WHERE run_id = ?`} {
		if _, err := tx.ExecContext(ctx, q, r.id); err != nil {
			return r.db.wrap("restart run "+r.id+" in", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET config_yaml = ?, command = ?, seed = ? WHERE id = ?`,
		redact.String(spec.ConfigYAML), redact.String(spec.Command), spec.Seed, r.id); err != nil {
		return r.db.wrap("restart run "+r.id+" in", err)
	}
	if err := insertParams(ctx, tx, r.id, spec.Params); err != nil {
		return r.db.wrap("restart run "+r.id+" in", err)
	}
	if err := tx.Commit(); err != nil {
		return r.db.wrap("restart run "+r.id+" in", err)
	}
	return nil
}

// Rewind forgets the metrics a run logged after step, for a run resumed from its checkpoint at
// step: the steps after it are trained again (to the same values), and until they are the
// tracker says where the run really is, not how far the process that was killed had gone. It
// returns how many rows it removed.
func (r *Run) Rewind(ctx context.Context, step int64) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := r.pending[:0]
	for _, m := range r.pending {
		if m.step <= step {
			kept = append(kept, m)
		}
	}
	r.pending = kept
	tx, err := r.db.sql.BeginTx(ctx, nil)
	if err != nil {
		return 0, r.db.wrap("rewind run "+r.id+" in", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM metrics WHERE run_id = ? AND step > ?`, r.id, step)
	if err != nil {
		return 0, r.db.wrap("rewind run "+r.id+" in", err)
	}
	n, _ := res.RowsAffected()
	if n == 0 {
		return 0, nil
	}
	for _, q := range []string{`DELETE FROM latest_metrics WHERE run_id = ?`,
		`INSERT INTO latest_metrics (run_id, key, step, value, at)
			SELECT m.run_id, m.key, m.step, m.value, m.at FROM metrics m
			WHERE m.run_id = ?1 AND m.step = (SELECT max(step) FROM metrics x WHERE x.run_id = ?1 AND x.key = m.key)`} {
		if _, err := tx.ExecContext(ctx, q, r.id); err != nil {
			return 0, r.db.wrap("rewind run "+r.id+" in", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, r.db.wrap("rewind run "+r.id+" in", err)
	}
	return n, nil
}
