package experiments

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/natssl/natssl/configs"
)

// EvalMean is the mean of a suite's metric over all tasks at one checkpoint.
type EvalMean struct {
	Suite          string
	Metric         string
	CheckpointStep int64
	Tasks          int
	Mean           float64
}

// RunInfo is what a listing shows of a run.
type RunInfo struct {
	ID, Name    string
	Status      Status
	Stale       bool // RUNNING, but its heartbeat is older than DB.StaleAfter
	StartedAt   time.Time
	EndedAt     time.Time // zero while running
	HeartbeatAt time.Time
	Seed        int64
	GitCommit   string
	Host        string
	Command     string
	Error       string
	Steps       int64             // the highest step any metric was logged at
	Latest      map[string]Metric // the value at the highest step of each metric
	NeWT        *EvalMean         // the last checkpoint's NeWT accuracy; nil when not evaluated
}

// DisplayStatus is the status with staleness shown: "RUNNING (stale)" for a run whose process
// most likely died.
func (ri *RunInfo) DisplayStatus() string {
	if ri.Stale {
		return string(ri.Status) + " (stale)"
	}
	return string(ri.Status)
}

// Duration is how long the run ran: to its end, or to its last heartbeat while RUNNING.
func (ri *RunInfo) Duration() time.Duration {
	end := ri.EndedAt
	if end.IsZero() {
		end = ri.HeartbeatAt
	}
	if end.IsZero() || end.Before(ri.StartedAt) {
		return 0
	}
	return end.Sub(ri.StartedAt)
}

// ListOptions filters ListRuns.
type ListOptions struct {
	// Name keeps runs whose name matches this glob pattern (SQLite GLOB: *, ?, [...]).
	Name string
	// IDs keeps only these full run ids, in this order.
	IDs []string
}

const runColumns = `id, name, status, started_at, ended_at, heartbeat_at, seed, git_commit, host, command, error`

// ListRuns returns the runs, oldest first (or in opt.IDs order), each with its latest metrics
// and its last NeWT mean.
func (db *DB) ListRuns(ctx context.Context, opt ListOptions) ([]*RunInfo, error) {
	q := `SELECT ` + runColumns + ` FROM runs`
	var args []any
	if opt.Name != "" {
		q += ` WHERE name GLOB ?`
		args = append(args, opt.Name)
	}
	q += ` ORDER BY started_at, id`
	rows, err := db.sql.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, db.wrap("list runs in", err)
	}
	var runs []*RunInfo
	byID := map[string]*RunInfo{}
	for rows.Next() {
		ri, err := db.scanRun(rows)
		if err != nil {
			rows.Close()
			return nil, db.wrap("list runs in", err)
		}
		runs = append(runs, ri)
		byID[ri.ID] = ri
	}
	if err := rows.Close(); err != nil {
		return nil, db.wrap("list runs in", err)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap("list runs in", err)
	}
	if opt.IDs != nil {
		runs = runs[:0]
		for _, id := range opt.IDs {
			ri, ok := byID[id]
			if !ok {
				return nil, fmt.Errorf("experiments: list runs in %s: run %s: %w", db.path, id, ErrNotFound)
			}
			runs = append(runs, ri)
		}
	}
	if err := db.fillLatest(ctx, byID); err != nil {
		return nil, err
	}
	if err := db.fillNeWT(ctx, byID); err != nil {
		return nil, err
	}
	return runs, nil
}

func (db *DB) scanRun(rows interface{ Scan(...any) error }) (*RunInfo, error) {
	var ri RunInfo
	var status string
	var started, ended, heartbeat sql.NullString
	if err := rows.Scan(&ri.ID, &ri.Name, &status, &started, &ended, &heartbeat, &ri.Seed, &ri.GitCommit, &ri.Host, &ri.Command, &ri.Error); err != nil {
		return nil, err
	}
	ri.Status = Status(status)
	ri.StartedAt, ri.EndedAt, ri.HeartbeatAt = parseTime(started), parseTime(ended), parseTime(heartbeat)
	ri.Stale = ri.Status == StatusRunning && db.now().Sub(ri.HeartbeatAt) > db.StaleAfter
	ri.Latest = map[string]Metric{}
	return &ri, nil
}

func (db *DB) fillLatest(ctx context.Context, byID map[string]*RunInfo) error {
	rows, err := db.sql.QueryContext(ctx, `SELECT run_id, key, step, value, at FROM latest_metrics`)
	if err != nil {
		return db.wrap("read latest metrics in", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var m Metric
		var v sql.NullFloat64
		var at sql.NullString
		if err := rows.Scan(&id, &m.Key, &m.Step, &v, &at); err != nil {
			return db.wrap("read latest metrics in", err)
		}
		ri, ok := byID[id]
		if !ok {
			continue
		}
		m.Value, m.At = nullNaN(v), parseTime(at)
		ri.Latest[m.Key] = m
		ri.Steps = max(ri.Steps, m.Step)
	}
	if err := rows.Err(); err != nil {
		return db.wrap("read latest metrics in", err)
	}
	return nil
}

func (db *DB) fillNeWT(ctx context.Context, byID map[string]*RunInfo) error {
	rows, err := db.sql.QueryContext(ctx, `SELECT e.run_id, e.checkpoint_step, avg(e.value), count(*) FROM evals e
		WHERE e.suite = ? COLLATE NOCASE AND e.metric = ? AND e.task <> ''
		AND e.checkpoint_step = (SELECT max(x.checkpoint_step) FROM evals x
			WHERE x.run_id = e.run_id AND x.suite = e.suite AND x.metric = e.metric AND x.task <> '')
		GROUP BY e.run_id`, SuiteNeWT, MetricAccuracy)
	if err != nil {
		return db.wrap("read evals in", err)
	}
	defer rows.Close()
	for rows.Next() {
		em := EvalMean{Suite: SuiteNeWT, Metric: MetricAccuracy}
		var id string
		var mean sql.NullFloat64
		if err := rows.Scan(&id, &em.CheckpointStep, &mean, &em.Tasks); err != nil {
			return db.wrap("read evals in", err)
		}
		if ri, ok := byID[id]; ok {
			em.Mean = nullNaN(mean)
			ri.NeWT = &em
		}
	}
	if err := rows.Err(); err != nil {
		return db.wrap("read evals in", err)
	}
	return nil
}

// RunRecord is everything recorded about one run.
type RunRecord struct {
	RunInfo
	ConfigYAML  string
	Params      []configs.KeyValue
	Tags        map[string]string
	Checkpoints []Checkpoint
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

// GetRun returns the full record of run id (a full id; see ResolveRun for prefixes).
func (db *DB) GetRun(ctx context.Context, id string) (*RunRecord, error) {
	row := db.sql.QueryRowContext(ctx, `SELECT `+runColumns+`, config_yaml FROM runs WHERE id = ?`, id)
	var rec RunRecord
	var status string
	var started, ended, heartbeat sql.NullString
	err := row.Scan(&rec.ID, &rec.Name, &status, &started, &ended, &heartbeat, &rec.Seed, &rec.GitCommit, &rec.Host,
		&rec.Command, &rec.Error, &rec.ConfigYAML)
	if err == sql.ErrNoRows {
		return nil, fmt.Errorf("experiments: read run %s in %s: %w", id, db.path, ErrNotFound)
	}
	if err != nil {
		return nil, db.wrap("read run "+id+" in", err)
	}
	rec.Status = Status(status)
	rec.StartedAt, rec.EndedAt, rec.HeartbeatAt = parseTime(started), parseTime(ended), parseTime(heartbeat)
	rec.Stale = rec.Status == StatusRunning && db.now().Sub(rec.HeartbeatAt) > db.StaleAfter
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
	if rec.Evals, err = db.Evals(ctx, id); err != nil {
		return nil, err
	}
	if rec.Exports, err = db.Exports(ctx, id); err != nil {
		return nil, err
	}
	if last, _ := LastAndBest(Summarize(rec.Evals, SuiteNeWT, MetricAccuracy)); last != nil {
		rec.NeWT = &EvalMean{Suite: SuiteNeWT, Metric: MetricAccuracy, CheckpointStep: last.CheckpointStep,
			Tasks: last.Tasks, Mean: last.Mean}
	}
	return &rec, nil
}

// ResolveRun turns a run id or an unambiguous prefix of one (as with git) into the full id.
func (db *DB) ResolveRun(ctx context.Context, idOrPrefix string) (string, error) {
	return db.resolveID(ctx, "runs", "run", idOrPrefix, ErrNotFound)
}

// resolveID turns an id or an unambiguous prefix of one into the full id of a row of table
// (runs, sweeps); what names the row in messages, and notFound is the error when none matches.
func (db *DB) resolveID(ctx context.Context, table, what, idOrPrefix string, notFound error) (string, error) {
	p := strings.ToLower(strings.TrimSpace(idOrPrefix))
	if p == "" {
		return "", fmt.Errorf("experiments: resolve %s: empty %s id", what, what)
	}
	op := "resolve " + what + " " + idOrPrefix + " in"
	rows, err := db.sql.QueryContext(ctx, `SELECT id FROM `+table+` WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT 6`, len(p), p)
	if err != nil {
		return "", db.wrap(op, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return "", db.wrap(op, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return "", db.wrap(op, err)
	}
	switch {
	case len(ids) == 0:
		return "", fmt.Errorf("experiments: %s %q in %s: %w", what, idOrPrefix, db.path, notFound)
	case len(ids) == 1 || ids[0] == p:
		return ids[0], nil
	}
	more := ""
	if len(ids) > 5 {
		ids, more = ids[:5], ", ..."
	}
	return "", fmt.Errorf("experiments: %s %q in %s: %w: matches %s%s", what, idOrPrefix, db.path, ErrAmbiguous, strings.Join(ids, ", "), more)
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
		out[k] = v
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
