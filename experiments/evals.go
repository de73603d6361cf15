package experiments

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sort"
	"strings"
)

// The suite and metric natssl's NeWT probe records, and that runs list and report summarise.
// SuiteValidation is the validation suite (eval.val_csv) that sweeps are judged on.
const (
	SuiteNeWT       = "newt"
	SuiteValidation = "val"
	MetricAccuracy  = "accuracy"
)

// Eval is one evaluation result: a metric of one task of a suite, for the checkpoint taken at
// CheckpointStep. Rows are per task; means are computed by EvalSummaries. A row with an empty
// Task is kept but left out of the means.
type Eval struct {
	CheckpointStep                           int64
	Suite, Task, Cluster, Subcluster, Metric string
	Value                                    float64
}

// RecordEvals stores evals against run runID in one transaction. Recording the same
// (checkpoint step, suite, task, metric) again replaces the value; recording a task's accuracy
// again drops the per-image outcomes of its earlier evaluation (RecordEvaluation stores new ones).
func (db *DB) RecordEvals(ctx context.Context, runID string, evals []Eval) error {
	return db.RecordEvaluation(ctx, runID, evals, nil)
}

// RecordEvaluation stores evals and the per-image outcomes behind them against run runID in
// one transaction, so that a reader never sees a task's accuracy without its outcomes or with
// those of another evaluation. Every outcome must belong to a task whose accuracy is among
// evals, and each task's outcomes must give that accuracy; otherwise nothing is written.
func (db *DB) RecordEvaluation(ctx context.Context, runID string, evals []Eval, outcomes []Outcome) error {
	for _, e := range evals {
		if e.Suite == "" || e.Metric == "" {
			return fmt.Errorf("experiments: record evals of run %s: task %q: suite and metric must be set", runID, e.Task)
		}
	}
	if err := checkOutcomes(evals, outcomes); err != nil {
		return fmt.Errorf("experiments: record evals of run %s: %w", runID, err)
	}
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return db.wrap("record evals of run "+runID+" in", err)
	}
	defer tx.Rollback()
	var exists int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE id = ?`, runID).Scan(&exists); err != nil {
		return db.wrap("record evals of run "+runID+" in", err)
	}
	if exists == 0 {
		return fmt.Errorf("experiments: record evals of run %s in %s: %w", runID, db.path, ErrNotFound)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO evals (run_id, checkpoint_step, suite, task, cluster, subcluster, metric, value, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (run_id, checkpoint_step, suite, task, metric) DO UPDATE SET
			cluster = excluded.cluster, subcluster = excluded.subcluster, value = excluded.value, at = excluded.at`)
	if err != nil {
		return db.wrap("record evals of run "+runID+" in", err)
	}
	defer stmt.Close()
	at := formatTime(db.now())
	for _, e := range evals {
		if _, err := stmt.ExecContext(ctx, runID, e.CheckpointStep, e.Suite, e.Task, e.Cluster, e.Subcluster, e.Metric, e.Value, at); err != nil {
			return db.wrap(fmt.Sprintf("record eval %s/%s of run %s in", e.Suite, e.Task, runID), err)
		}
	}
	if err := db.replaceOutcomes(ctx, tx, runID, evals, outcomes); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return db.wrap("record evals of run "+runID+" in", err)
	}
	return nil
}

// Evals returns every evaluation row of a run, ordered by checkpoint step, suite, cluster,
// subcluster, task and metric.
func (db *DB) Evals(ctx context.Context, runID string) ([]Eval, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT checkpoint_step, suite, task, cluster, subcluster, metric, value FROM evals
		WHERE run_id = ? ORDER BY checkpoint_step, suite, cluster, subcluster, task, metric`, runID)
	if err != nil {
		return nil, db.wrap("read evals of run "+runID+" in", err)
	}
	defer rows.Close()
	var out []Eval
	for rows.Next() {
		var e Eval
		var v sql.NullFloat64
		if err := rows.Scan(&e.CheckpointStep, &e.Suite, &e.Task, &e.Cluster, &e.Subcluster, &e.Metric, &v); err != nil {
			return nil, db.wrap("read evals of run "+runID+" in", err)
		}
		e.Value = nullNaN(v)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap("read evals of run "+runID+" in", err)
	}
	return out, nil
}

// GroupMean is the mean of a metric over the tasks of one cluster or subcluster.
type GroupMean struct {
	Cluster    string  `json:"cluster"`
	Subcluster string  `json:"subcluster,omitempty"`
	Tasks      int     `json:"tasks"`
	Mean       float64 `json:"mean"`
}

// EvalSummary is one checkpoint's evaluation on a suite: the mean over all tasks, per cluster
// and per subcluster, and each task's value.
type EvalSummary struct {
	CheckpointStep int64              `json:"checkpoint_step"`
	Suite          string             `json:"suite"`
	Metric         string             `json:"metric"`
	Tasks          int                `json:"tasks"`
	Mean           float64            `json:"mean"`
	Clusters       []GroupMean        `json:"clusters"`    // sorted by cluster
	Subclusters    []GroupMean        `json:"subclusters"` // sorted by cluster, subcluster
	PerTask        map[string]float64 `json:"per_task"`
	TaskCluster    map[string]string  `json:"-"` // task → cluster
	TaskSubcluster map[string]string  `json:"-"` // task → subcluster
}

// EvalSummaries summarises a run's evaluations on suite and metric, one summary per checkpoint
// step in ascending order; none when the run has no such evaluation. NaN values count as they
// are (a NaN task makes its means NaN), so a broken evaluation is not hidden.
func (db *DB) EvalSummaries(ctx context.Context, runID, suite, metric string) ([]EvalSummary, error) {
	evals, err := db.Evals(ctx, runID)
	if err != nil {
		return nil, err
	}
	return Summarize(evals, suite, metric), nil
}

// Summarize groups evals of suite and metric by checkpoint step and computes their means.
func Summarize(evals []Eval, suite, metric string) []EvalSummary {
	type acc struct{ sum, n float64 }
	byStep := map[int64][]Eval{}
	for _, e := range evals {
		if !strings.EqualFold(e.Suite, suite) || e.Metric != metric || e.Task == "" {
			continue
		}
		byStep[e.CheckpointStep] = append(byStep[e.CheckpointStep], e)
	}
	var out []EvalSummary
	for step, es := range byStep {
		s := EvalSummary{CheckpointStep: step, Suite: suite, Metric: metric, Tasks: len(es),
			PerTask: map[string]float64{}, TaskCluster: map[string]string{}, TaskSubcluster: map[string]string{}}
		var all acc
		clusters := map[string]*acc{}
		subs := map[[2]string]*acc{}
		for _, e := range es {
			s.PerTask[e.Task] = e.Value
			s.TaskCluster[e.Task] = e.Cluster
			s.TaskSubcluster[e.Task] = e.Subcluster
			all.sum += e.Value
			all.n++
			c := clusters[e.Cluster]
			if c == nil {
				c = &acc{}
				clusters[e.Cluster] = c
			}
			c.sum += e.Value
			c.n++
			k := [2]string{e.Cluster, e.Subcluster}
			sc := subs[k]
			if sc == nil {
				sc = &acc{}
				subs[k] = sc
			}
			sc.sum += e.Value
			sc.n++
		}
		s.Mean = all.sum / all.n
		for name, a := range clusters {
			s.Clusters = append(s.Clusters, GroupMean{Cluster: name, Tasks: int(a.n), Mean: a.sum / a.n})
		}
		sort.Slice(s.Clusters, func(i, j int) bool { return s.Clusters[i].Cluster < s.Clusters[j].Cluster })
		for k, a := range subs {
			s.Subclusters = append(s.Subclusters, GroupMean{Cluster: k[0], Subcluster: k[1], Tasks: int(a.n), Mean: a.sum / a.n})
		}
		sort.Slice(s.Subclusters, func(i, j int) bool {
			a, b := s.Subclusters[i], s.Subclusters[j]
			return a.Cluster < b.Cluster || a.Cluster == b.Cluster && a.Subcluster < b.Subcluster
		})
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CheckpointStep < out[j].CheckpointStep })
	return out
}

// LastAndBest picks, from summaries in step order, the last checkpoint's and the one with the
// highest mean (NaN means never win); nil when there are none.
func LastAndBest(summaries []EvalSummary) (last, best *EvalSummary) {
	for i := range summaries {
		s := &summaries[i]
		last = s
		if math.IsNaN(s.Mean) {
			continue
		}
		if best == nil || s.Mean > best.Mean {
			best = s
		}
	}
	return last, best
}

func nullNaN(v sql.NullFloat64) float64 {
	if !v.Valid {
		return math.NaN()
	}
	return v.Float64
}
