package experiments

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/natssl/natssl/experiments/metric"
	"github.com/natssl/natssl/internal/redact"
)

// EvalMean is the mean of a suite's metric over all tasks of one evaluation.
type EvalMean struct {
	Suite          string
	Metric         string
	Classifier     string // "" when not recorded
	CheckpointStep int64
	Tasks          int
	Mean           float64
}

// RunInfo is what a listing shows of a run.
type RunInfo struct {
	ID, Name    string
	Status      Status
	Stale       bool // RUNNING, but no process writes it any more (see DB.Live)
	StartedAt   time.Time
	EndedAt     time.Time // zero while running
	HeartbeatAt time.Time
	ArchivedAt  time.Time // zero unless archived
	Seed        int64
	GitCommit   string
	Host        string
	PID         int // the process writing the run, on Host; 0 for a run recorded before natssl kept it
	Command     string
	Error       string
	Steps       int64             // the highest step any metric was logged at
	Latest      map[string]Metric // the value at the highest step of each metric
	NeWT        *EvalMean         // the headline NeWT evaluation (see Headline); nil when not evaluated
}

// DisplayStatus is the status with staleness shown: "RUNNING (stale)" for a run whose process
// died (or most likely did: it stopped beating).
func (ri *RunInfo) DisplayStatus() string {
	if ri.Stale {
		return string(ri.Status) + " (stale)"
	}
	return string(ri.Status)
}

// Archived reports whether the run is archived: kept, but left out of listings.
func (ri *RunInfo) Archived() bool { return !ri.ArchivedAt.IsZero() }

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

// LastLoss is the loss of the run's last step: metric.LossLast, or for a run recorded before
// natssl logged it, the mean loss of its last logging window (mean is then true).
func (ri *RunInfo) LastLoss() (loss float64, mean, ok bool) {
	if m, ok := ri.Latest[metric.LossLast]; ok {
		return m.Value, false, true
	}
	if m, ok := ri.Latest[metric.Loss]; ok {
		return m.Value, true, true
	}
	return math.NaN(), false, false
}

// Archive filters listings by whether runs are archived.
type Archive int

// Archive filters. The zero value leaves archived runs out.
const (
	ArchivedHidden Archive = iota
	ArchivedToo
	ArchivedOnly
)

// Listing filters: StatusStale selects RUNNING runs whose heartbeat stopped; StatusRunning then
// selects the live ones.
const StatusStale Status = "STALE"

// ListOptions filter and order ListRuns.
type ListOptions struct {
	// Name keeps runs whose name matches this glob pattern (SQLite GLOB: *, ?, [...]).
	Name string
	// IDs keeps only these full run ids, in this order; the other filters are then ignored.
	IDs []string
	// Statuses keeps runs with one of these statuses (StatusStale for stale runs, and then
	// StatusRunning means live ones); none keeps all.
	Statuses []Status
	// Tags keeps runs that carry every one of these tags with these values.
	Tags map[string]string
	// Archived says whether archived runs are listed.
	Archived Archive
	// Sort orders the runs (see SortKeys; "" is oldest first); Reverse turns the order around.
	Sort    string
	Reverse bool
	// Limit keeps the first Limit runs of the order; 0 keeps all.
	Limit int
}

// SortKeys are the orders ListRuns knows, each in its natural direction: started (newest
// first), name, status, duration (longest first), steps (most first), loss (lowest first),
// newt (highest first). Without one, runs come oldest first.
var SortKeys = []string{"started", "name", "status", "duration", "steps", "loss", "newt"}

const runColumns = `id, name, status, started_at, ended_at, heartbeat_at, seed, git_commit, host, command, error, archived_at, pid`

// ListRuns returns the runs opt selects, each with its latest metrics and its headline NeWT
// mean, oldest first (or in opt.Sort's order, or in opt.IDs order).
func (db *DB) ListRuns(ctx context.Context, opt ListOptions) ([]*RunInfo, error) {
	if opt.Sort != "" && !slices.Contains(SortKeys, opt.Sort) {
		return nil, fmt.Errorf("experiments: list runs: unknown order %q (want one of %s)", opt.Sort, strings.Join(SortKeys, ", "))
	}
	q := `SELECT ` + runColumns + ` FROM runs r`
	var where []string
	var args []any
	if opt.IDs == nil {
		if opt.Name != "" {
			where, args = append(where, `name GLOB ?`), append(args, opt.Name)
		}
		switch opt.Archived {
		case ArchivedHidden:
			where = append(where, `archived_at IS NULL`)
		case ArchivedOnly:
			where = append(where, `archived_at IS NOT NULL`)
		}
		for k, v := range opt.Tags {
			where = append(where, `EXISTS (SELECT 1 FROM tags t WHERE t.run_id = r.id AND t.key = ? AND t.value = ?)`)
			args = append(args, k, v)
		}
	}
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
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
		if opt.IDs == nil && !statusSelected(ri, opt.Statuses) {
			continue
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
	if opt.IDs == nil && (opt.Sort != "" || opt.Reverse) {
		sortRuns(runs, opt.Sort, opt.Reverse)
	}
	if opt.Limit > 0 && len(runs) > opt.Limit {
		runs = runs[:opt.Limit]
	}
	return runs, nil
}

func statusSelected(ri *RunInfo, statuses []Status) bool {
	if len(statuses) == 0 {
		return true
	}
	for _, s := range statuses {
		switch {
		case s == StatusStale && ri.Stale,
			s == StatusRunning && ri.Status == StatusRunning && !ri.Stale,
			s != StatusRunning && s == ri.Status:
			return true
		}
	}
	return false
}

// sortRuns orders runs by key in its natural direction (see SortKeys), ties by start; runs
// without the value (no loss logged, not evaluated) come last either way.
func sortRuns(runs []*RunInfo, key string, reverse bool) {
	dir := 1
	if reverse {
		dir = -1
	}
	num := func(a, b float64, okA, okB bool, higherFirst bool) int {
		switch {
		case !okA || !okB:
			return cmp.Compare(b2i(okB), b2i(okA)) // missing last, whatever the direction
		case higherFirst:
			return dir * cmp.Compare(b, a)
		}
		return dir * cmp.Compare(a, b)
	}
	slices.SortStableFunc(runs, func(a, b *RunInfo) int {
		var c int
		switch key {
		case "name":
			c = dir * strings.Compare(a.Name, b.Name)
		case "status":
			c = dir * strings.Compare(a.DisplayStatus(), b.DisplayStatus())
		case "duration":
			c = dir * cmp.Compare(b.Duration(), a.Duration())
		case "steps":
			c = dir * cmp.Compare(b.Steps, a.Steps)
		case "loss":
			la, _, okA := a.LastLoss()
			lb, _, okB := b.LastLoss()
			c = num(la, lb, okA && !math.IsNaN(la), okB && !math.IsNaN(lb), false)
		case "newt":
			c = num(newtMean(a), newtMean(b), a.NeWT != nil && !math.IsNaN(a.NeWT.Mean), b.NeWT != nil && !math.IsNaN(b.NeWT.Mean), true)
		}
		if c != 0 {
			return c
		}
		if key == "started" {
			return dir * b.StartedAt.Compare(a.StartedAt)
		}
		return dir * a.StartedAt.Compare(b.StartedAt)
	})
}

func newtMean(r *RunInfo) float64 {
	if r.NeWT == nil {
		return math.NaN()
	}
	return r.NeWT.Mean
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (db *DB) scanRun(rows interface{ Scan(...any) error }) (*RunInfo, error) {
	var ri RunInfo
	var status string
	var started, ended, heartbeat, archived sql.NullString
	if err := rows.Scan(&ri.ID, &ri.Name, &status, &started, &ended, &heartbeat, &ri.Seed, &ri.GitCommit, &ri.Host,
		&ri.Command, &ri.Error, &archived, &ri.PID); err != nil {
		return nil, err
	}
	ri.Status = Status(status)
	ri.StartedAt, ri.EndedAt, ri.HeartbeatAt = parseTime(started), parseTime(ended), parseTime(heartbeat)
	ri.ArchivedAt = parseTime(archived)
	ri.Stale = ri.Status == StatusRunning && !db.Live(ri.owner())
	// Masked again as they are read: a database an older natssl wrote may hold them whole.
	ri.Command, ri.Error = redact.String(ri.Command), redact.String(ri.Error)
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

// fillNeWT sets each run's headline NeWT mean from the means of its evaluations.
func (db *DB) fillNeWT(ctx context.Context, byID map[string]*RunInfo) error {
	rows, err := db.sql.QueryContext(ctx, `SELECT v.run_id, v.id, v.checkpoint_step, v.classifier, avg(e.value), count(*)
		FROM evaluations v JOIN evals e ON e.evaluation_id = v.id
		WHERE v.suite = ? COLLATE NOCASE AND e.metric = ? AND e.task <> ''
		GROUP BY v.id ORDER BY v.run_id, v.checkpoint_step, v.id`, SuiteNeWT, MetricAccuracy)
	if err != nil {
		return db.wrap("read evals in", err)
	}
	defer rows.Close()
	byRun := map[string][]EvalSummary{}
	for rows.Next() {
		var id string
		var s EvalSummary
		var mean sql.NullFloat64
		if err := rows.Scan(&id, &s.EvaluationID, &s.CheckpointStep, &s.Classifier, &mean, &s.Tasks); err != nil {
			return db.wrap("read evals in", err)
		}
		if _, ok := byID[id]; ok {
			s.Mean = nullNaN(mean)
			byRun[id] = append(byRun[id], s)
		}
	}
	if err := rows.Err(); err != nil {
		return db.wrap("read evals in", err)
	}
	for id, sums := range byRun {
		byID[id].NeWT = headlineMean(sums)
	}
	return nil
}

// headlineMean is the EvalMean of Headline(sums); nil when there are none.
func headlineMean(sums []EvalSummary) *EvalMean {
	h := Headline(sums)
	if h == nil {
		return nil
	}
	return &EvalMean{Suite: SuiteNeWT, Metric: MetricAccuracy, Classifier: h.Classifier, CheckpointStep: h.CheckpointStep,
		Tasks: h.Tasks, Mean: h.Mean}
}
