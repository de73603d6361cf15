package experiments

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/internal/redact"
)

// The tags that tie a run to the sweep trial it trains: sweep=<sweep id>, trial=<n>.
const (
	TagSweep = "sweep"
	TagTrial = "trial"
)

// Sweep is a recipe search as the tracker keeps it: the base config every trial starts from,
// the design that made the trials (Spec, opaque here: its writer's JSON), and the trials.
type Sweep struct {
	ID, Name   string
	CreatedAt  time.Time
	ConfigYAML string // the base config, resolved: every key
	Spec       string
	Command    string
	Trials     []SweepTrial // in trial order
}

// SweepTrial is one trial: the values of the swept keys, in the sweep's key order, and the
// seed. Trials of one Config (numbered from 1) differ only in their seed.
type SweepTrial struct {
	N      int // from 1
	Config int
	Seed   int64
	Values []configs.KeyValue
}

// TrialRun is a run tagged with a sweep's trial.
type TrialRun struct {
	Trial int
	RunID string
}

// CreateSweep records a new sweep with its trials in one transaction and returns its id. The
// sweep's ID and CreatedAt are assigned here. The credentials of URLs are masked in what it
// stores, as in runs (natssl sweep refuses a design that has any: its trials run from this).
func (db *DB) CreateSweep(ctx context.Context, s Sweep) (string, error) {
	id, err := newRunID()
	if err != nil {
		return "", fmt.Errorf("experiments: create sweep: %w", err)
	}
	for i, t := range s.Trials {
		if t.N != i+1 {
			return "", fmt.Errorf("experiments: create sweep: trial %d is numbered %d", i+1, t.N)
		}
	}
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return "", db.wrap("create sweep in", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO sweeps (id, name, created_at, config_yaml, spec, command) VALUES (?, ?, ?, ?, ?, ?)`,
		id, s.Name, formatTime(db.now()), redact.String(s.ConfigYAML), redact.String(s.Spec), redact.String(s.Command)); err != nil {
		return "", db.wrap("create sweep in", err)
	}
	for _, t := range s.Trials {
		if _, err := tx.ExecContext(ctx, `INSERT INTO sweep_trials (sweep_id, trial, config, seed) VALUES (?, ?, ?, ?)`,
			id, t.N, t.Config, t.Seed); err != nil {
			return "", db.wrap(fmt.Sprintf("create sweep trial %d in", t.N), err)
		}
		for k, v := range t.Values {
			if _, err := tx.ExecContext(ctx, `INSERT INTO sweep_values (sweep_id, trial, ord, key, value) VALUES (?, ?, ?, ?, ?)`,
				id, t.N, k, v.Key, redact.String(v.Value)); err != nil {
				return "", db.wrap(fmt.Sprintf("create sweep trial %d in", t.N), err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return "", db.wrap("create sweep in", err)
	}
	return id, nil
}

// GetSweep returns sweep id (a full id; see ResolveSweep for prefixes) with its trials.
func (db *DB) GetSweep(ctx context.Context, id string) (*Sweep, error) {
	s := &Sweep{ID: id}
	var created sql.NullString
	err := db.sql.QueryRowContext(ctx, `SELECT name, created_at, config_yaml, spec, command FROM sweeps WHERE id = ?`, id).
		Scan(&s.Name, &created, &s.ConfigYAML, &s.Spec, &s.Command)
	if err == sql.ErrNoRows {
		return nil, fmt.Errorf("experiments: read sweep %s in %s: %w", id, db.path, ErrNoSweep)
	}
	if err != nil {
		return nil, db.wrap("read sweep "+id+" in", err)
	}
	s.CreatedAt = parseTime(created)
	rows, err := db.sql.QueryContext(ctx, `SELECT t.trial, t.config, t.seed, v.key, v.value
		FROM sweep_trials t LEFT JOIN sweep_values v ON v.sweep_id = t.sweep_id AND v.trial = t.trial
		WHERE t.sweep_id = ? ORDER BY t.trial, v.ord`, id)
	if err != nil {
		return nil, db.wrap("read sweep "+id+" in", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t SweepTrial
		var key, value sql.NullString
		if err := rows.Scan(&t.N, &t.Config, &t.Seed, &key, &value); err != nil {
			return nil, db.wrap("read sweep "+id+" in", err)
		}
		if n := len(s.Trials); n == 0 || s.Trials[n-1].N != t.N {
			s.Trials = append(s.Trials, t)
		}
		if key.Valid {
			last := &s.Trials[len(s.Trials)-1]
			last.Values = append(last.Values, configs.KeyValue{Key: key.String, Value: value.String})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap("read sweep "+id+" in", err)
	}
	return s, nil
}

// ResolveSweep turns a sweep id or an unambiguous prefix of one into the full id.
func (db *DB) ResolveSweep(ctx context.Context, idOrPrefix string) (string, error) {
	return db.resolveID(ctx, "sweeps", "sweep", idOrPrefix, ErrNoSweep)
}

// SweepRuns returns the runs tagged with a trial of sweep id, oldest first: a trial that was
// started again after its run could not be continued has more than one.
func (db *DB) SweepRuns(ctx context.Context, id string) ([]TrialRun, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT n.value, r.id FROM tags s
		JOIN tags n ON n.run_id = s.run_id AND n.key = ?
		JOIN runs r ON r.id = s.run_id
		WHERE s.key = ? AND s.value = ? ORDER BY r.started_at, r.id`, TagTrial, TagSweep, id)
	if err != nil {
		return nil, db.wrap("read the runs of sweep "+id+" in", err)
	}
	defer rows.Close()
	var out []TrialRun
	for rows.Next() {
		var n, runID string
		if err := rows.Scan(&n, &runID); err != nil {
			return nil, db.wrap("read the runs of sweep "+id+" in", err)
		}
		k, err := strconv.Atoi(n)
		if err != nil {
			return nil, fmt.Errorf("experiments: run %s of sweep %s: tag %s=%q is not a trial number", runID, id, TagTrial, n)
		}
		out = append(out, TrialRun{Trial: k, RunID: runID})
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap("read the runs of sweep "+id+" in", err)
	}
	return out, nil
}

// ListSweeps returns the sweeps, newest first, at most limit of them (0: all), with their id,
// name and creation time only.
func (db *DB) ListSweeps(ctx context.Context, limit int) ([]Sweep, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT id, name, created_at FROM sweeps ORDER BY created_at DESC, id LIMIT ?`, limit)
	if err != nil {
		return nil, db.wrap("list sweeps in", err)
	}
	defer rows.Close()
	var out []Sweep
	for rows.Next() {
		var s Sweep
		var at sql.NullString
		if err := rows.Scan(&s.ID, &s.Name, &at); err != nil {
			return nil, db.wrap("list sweeps in", err)
		}
		s.CreatedAt = parseTime(at)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap("list sweeps in", err)
	}
	return out, nil
}
