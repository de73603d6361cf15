package experiments

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/internal/redact"
)

// RunRecord is everything recorded about one run.
type RunRecord struct {
	RunInfo
	ConfigYAML  string
	Params      []configs.KeyValue
	Tags        map[string]string
	Checkpoints []Checkpoint
	Evaluations []Evaluation // in checkpoint step order, then as recorded
	Evals       []Eval
	Exports     []Export
}

// Checkpoint is a checkpoint file recorded by a run.
type Checkpoint struct {
	Step   int64
	Path   string
	SHA256 string
	Bytes  int64
	At     time.Time
}

// GetRun returns the full record of run id (a full id; see ResolveRun for names and prefixes).
func (db *DB) GetRun(ctx context.Context, id string) (*RunRecord, error) {
	row := db.sql.QueryRowContext(ctx, `SELECT `+runColumns+`, config_yaml FROM runs WHERE id = ?`, id)
	var rec RunRecord
	var status string
	var started, ended, heartbeat, archived sql.NullString
	err := row.Scan(&rec.ID, &rec.Name, &status, &started, &ended, &heartbeat, &rec.Seed, &rec.GitCommit, &rec.Host,
		&rec.Command, &rec.Error, &archived, &rec.PID, &rec.ConfigYAML)
	if err == sql.ErrNoRows {
		return nil, fmt.Errorf("experiments: read run %s in %s: %w", id, db.path, ErrNotFound)
	}
	if err != nil {
		return nil, db.wrap("read run "+id+" in", err)
	}
	rec.Status = Status(status)
	rec.StartedAt, rec.EndedAt, rec.HeartbeatAt = parseTime(started), parseTime(ended), parseTime(heartbeat)
	rec.ArchivedAt = parseTime(archived)
	rec.Stale = rec.Status == StatusRunning && !db.Live(rec.owner())
	// Masked again as they are read: a database an older natssl wrote may hold them whole.
	rec.Command, rec.Error, rec.ConfigYAML = redact.String(rec.Command), redact.String(rec.Error), redact.String(rec.ConfigYAML)
	latest, err := db.LatestMetrics(ctx, id)
	if err != nil {
		return nil, err
	}
	rec.Latest = map[string]Metric{}
	for _, m := range latest {
		rec.Latest[m.Key] = m
		rec.Steps = max(rec.Steps, m.Step)
	}
	if rec.Params, err = db.Params(ctx, id); err != nil {
		return nil, err
	}
	if rec.Tags, err = db.Tags(ctx, id); err != nil {
		return nil, err
	}
	if rec.Checkpoints, err = db.Checkpoints(ctx, id); err != nil {
		return nil, err
	}
	if rec.Evaluations, err = db.Evaluations(ctx, id); err != nil {
		return nil, err
	}
	if rec.Evals, err = db.Evals(ctx, id); err != nil {
		return nil, err
	}
	if rec.Exports, err = db.Exports(ctx, id); err != nil {
		return nil, err
	}
	rec.NeWT = headlineMean(Summarize(rec.Evals, SuiteNeWT, MetricAccuracy))
	return &rec, nil
}

// Evaluation returns the evaluation of the record with id; nil when it has none such.
func (rec *RunRecord) Evaluation(id int64) *Evaluation {
	for i := range rec.Evaluations {
		if rec.Evaluations[i].ID == id {
			return &rec.Evaluations[i]
		}
	}
	return nil
}

// Params returns a run's flattened config, in key order.
func (db *DB) Params(ctx context.Context, runID string) ([]configs.KeyValue, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT key, value FROM params WHERE run_id = ? ORDER BY key`, runID)
	if err != nil {
		return nil, db.wrap("read params of run "+runID+" in", err)
	}
	defer rows.Close()
	var out []configs.KeyValue
	for rows.Next() {
		var kv configs.KeyValue
		if err := rows.Scan(&kv.Key, &kv.Value); err != nil {
			return nil, db.wrap("read params of run "+runID+" in", err)
		}
		kv.Value = redact.String(kv.Value)
		out = append(out, kv)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap("read params of run "+runID+" in", err)
	}
	return out, nil
}

// Tags returns a run's tags.
func (db *DB) Tags(ctx context.Context, runID string) (map[string]string, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT key, value FROM tags WHERE run_id = ?`, runID)
	if err != nil {
		return nil, db.wrap("read tags of run "+runID+" in", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, db.wrap("read tags of run "+runID+" in", err)
		}
		out[k] = redact.String(v)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap("read tags of run "+runID+" in", err)
	}
	return out, nil
}

// Checkpoints returns a run's recorded checkpoints in step order.
func (db *DB) Checkpoints(ctx context.Context, runID string) ([]Checkpoint, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT step, path, sha256, bytes, at FROM checkpoints WHERE run_id = ? ORDER BY step`, runID)
	if err != nil {
		return nil, db.wrap("read checkpoints of run "+runID+" in", err)
	}
	defer rows.Close()
	var out []Checkpoint
	for rows.Next() {
		var c Checkpoint
		var at sql.NullString
		if err := rows.Scan(&c.Step, &c.Path, &c.SHA256, &c.Bytes, &at); err != nil {
			return nil, db.wrap("read checkpoints of run "+runID+" in", err)
		}
		c.At = parseTime(at)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap("read checkpoints of run "+runID+" in", err)
	}
	return out, nil
}
