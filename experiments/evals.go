package experiments

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// The suite and metric natssl's NeWT probe records, and that runs list and report summarise.
// SuiteValidation is the validation suite (eval.val_csv) that sweeps are judged on.
const (
	SuiteNeWT       = "newt"
	SuiteValidation = "val"
	MetricAccuracy  = "accuracy"
)

// HeadlineClassifier is the classifier of the NeWT protocol: a run's headline number (runs
// list, a report's default) comes from its evaluations with it, or with none recorded.
const HeadlineClassifier = "linearsvc"

// Evaluation is one scoring of a run's encoder: which checkpoint, on which suite, with which
// classifier, and when. Its per-task rows (Eval) and per-image outcomes (Outcome) belong to it.
// Every evaluation is kept: scoring the same checkpoint again, with another classifier or on
// another suite, adds one beside the earlier ones.
type Evaluation struct {
	ID             int64 // assigned by the tracker
	RunID          string
	CheckpointStep int64
	CheckpointPath string // the file scored; "" when none was (a random init) or not recorded
	Suite          string // the suite's name: "newt"
	SuitePath      string // the labels file scored on
	SuiteSHA256    string // the labels file's content hash
	Images         string // the suite's images: a folder or an archive
	Classifier     string // "linearsvc", "logreg"; "" when recorded before natssl kept it
	At             time.Time
}

// Eval is one evaluation result: a metric of one task of a suite, for the checkpoint taken at
// CheckpointStep. Rows are per task; means are computed by EvalSummaries. A row with an empty
// Task is kept but left out of the means. EvaluationID and Classifier name the evaluation the
// row belongs to when it is read back.
type Eval struct {
	EvaluationID                             int64
	Classifier                               string
	CheckpointStep                           int64
	Suite, Task, Cluster, Subcluster, Metric string
	Value                                    float64
}

// RecordEvals stores evals against run runID as RecordEvaluation does, without outcomes.
func (db *DB) RecordEvals(ctx context.Context, runID string, evals []Eval) error {
	return db.RecordEvaluation(ctx, runID, evals, nil)
}

// RecordEvaluation stores evals and the per-image outcomes behind them against run runID in
// one transaction, as one new evaluation per checkpoint step and suite among them, with no
// classifier or suite file recorded (AddEvaluation records those). Every outcome must belong
// to a task whose accuracy is among evals, and each task's outcomes must give that accuracy;
// otherwise nothing is written.
func (db *DB) RecordEvaluation(ctx context.Context, runID string, evals []Eval, outcomes []Outcome) error {
	type group struct {
		step  int64
		suite string
	}
	var order []group
	rows := map[group][]Eval{}
	outs := map[group][]Outcome{}
	for _, e := range evals {
		g := group{e.CheckpointStep, e.Suite}
		if _, ok := rows[g]; !ok {
			order = append(order, g)
		}
		rows[g] = append(rows[g], e)
	}
	for _, o := range outcomes {
		g := group{o.CheckpointStep, o.Suite}
		if _, ok := rows[g]; !ok {
			return fmt.Errorf("experiments: record evals of run %s: outcome of image %q: task %q (suite %q, step %d) has no %s row among the evals recorded with it",
				runID, o.Image, o.Task, o.Suite, o.CheckpointStep, MetricAccuracy)
		}
		outs[g] = append(outs[g], o)
	}
	return db.inTx(ctx, "record evals of run "+runID+" in", func(tx *sql.Tx) error {
		for _, g := range order {
			ev := Evaluation{RunID: runID, CheckpointStep: g.step, Suite: g.suite}
			if _, err := db.addEvaluation(ctx, tx, ev, rows[g], outs[g]); err != nil {
				return err
			}
		}
		return nil
	})
}

// AddEvaluation records one evaluation of run ev.RunID, its per-task rows and the per-image
// outcomes behind them, in one transaction, and returns its id. The rows and outcomes are
// the evaluation's: their checkpoint step and suite are set to ev's. Outcomes must belong to a
// task whose accuracy is among rows and give that accuracy; otherwise nothing is written.
func (db *DB) AddEvaluation(ctx context.Context, ev Evaluation, rows []Eval, outcomes []Outcome) (int64, error) {
	var id int64
	err := db.inTx(ctx, "record evals of run "+ev.RunID+" in", func(tx *sql.Tx) error {
		var err error
		id, err = db.addEvaluation(ctx, tx, ev, rows, outcomes)
		return err
	})
	return id, err
}

func (db *DB) addEvaluation(ctx context.Context, tx *sql.Tx, ev Evaluation, rows []Eval, outcomes []Outcome) (int64, error) {
	if ev.Suite == "" {
		return 0, fmt.Errorf("experiments: record evals of run %s: the suite must be named", ev.RunID)
	}
	rows = append([]Eval(nil), rows...)
	for i := range rows {
		if rows[i].Metric == "" {
			return 0, fmt.Errorf("experiments: record evals of run %s: task %q: suite and metric must be set", ev.RunID, rows[i].Task)
		}
		rows[i].CheckpointStep, rows[i].Suite = ev.CheckpointStep, ev.Suite
	}
	outcomes = append([]Outcome(nil), outcomes...)
	for i := range outcomes {
		outcomes[i].CheckpointStep, outcomes[i].Suite = ev.CheckpointStep, ev.Suite
	}
	if err := checkOutcomes(rows, outcomes); err != nil {
		return 0, fmt.Errorf("experiments: record evals of run %s: %w", ev.RunID, err)
	}
	var exists int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE id = ?`, ev.RunID).Scan(&exists); err != nil {
		return 0, err
	}
	if exists == 0 {
		return 0, fmt.Errorf("experiments: record evals of run %s in %s: %w", ev.RunID, db.path, ErrNotFound)
	}
	at := formatTime(db.now())
	res, err := tx.ExecContext(ctx, `INSERT INTO evaluations (run_id, checkpoint_step, checkpoint_path, suite, suite_path,
		suite_sha256, images_path, classifier, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ev.RunID, ev.CheckpointStep, ev.CheckpointPath, ev.Suite, ev.SuitePath, ev.SuiteSHA256, ev.Images, ev.Classifier, at)
	if err != nil {
		return 0, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO evals (evaluation_id, run_id, checkpoint_step, suite, task, cluster,
		subcluster, metric, value, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (evaluation_id, task, metric) DO UPDATE SET
			cluster = excluded.cluster, subcluster = excluded.subcluster, value = excluded.value`)
	if err != nil {
		return 0, err
	}
	defer stmt.Close()
	for _, e := range rows {
		if _, err := stmt.ExecContext(ctx, id, ev.RunID, e.CheckpointStep, e.Suite, e.Task, e.Cluster, e.Subcluster, e.Metric, e.Value, at); err != nil {
			return 0, fmt.Errorf("eval %s/%s: %w", e.Suite, e.Task, err)
		}
	}
	if err := insertOutcomes(ctx, tx, id, ev.RunID, outcomes); err != nil {
		return 0, err
	}
	return id, nil
}

// inTx runs fn in one write transaction; an error is wrapped with op and the database.
func (db *DB) inTx(ctx context.Context, op string, fn func(*sql.Tx) error) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return db.wrap(op, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		if strings.HasPrefix(err.Error(), "experiments: ") {
			return err
		}
		return db.wrap(op, err)
	}
	if err := tx.Commit(); err != nil {
		return db.wrap(op, err)
	}
	return nil
}

// Evaluations returns a run's evaluations, ordered by checkpoint step, then as recorded.
func (db *DB) Evaluations(ctx context.Context, runID string) ([]Evaluation, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT id, run_id, checkpoint_step, checkpoint_path, suite, suite_path,
		suite_sha256, images_path, classifier, at FROM evaluations WHERE run_id = ? ORDER BY checkpoint_step, id`, runID)
	if err != nil {
		return nil, db.wrap("read evaluations of run "+runID+" in", err)
	}
	defer rows.Close()
	var out []Evaluation
	for rows.Next() {
		var ev Evaluation
		var at sql.NullString
		if err := rows.Scan(&ev.ID, &ev.RunID, &ev.CheckpointStep, &ev.CheckpointPath, &ev.Suite, &ev.SuitePath,
			&ev.SuiteSHA256, &ev.Images, &ev.Classifier, &at); err != nil {
			return nil, db.wrap("read evaluations of run "+runID+" in", err)
		}
		ev.At = parseTime(at)
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap("read evaluations of run "+runID+" in", err)
	}
	return out, nil
}

// Evals returns every evaluation row of a run, ordered by checkpoint step, evaluation, suite,
// cluster, subcluster, task and metric.
func (db *DB) Evals(ctx context.Context, runID string) ([]Eval, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT e.evaluation_id, v.classifier, e.checkpoint_step, e.suite, e.task,
		e.cluster, e.subcluster, e.metric, e.value FROM evals e JOIN evaluations v ON v.id = e.evaluation_id
		WHERE e.run_id = ? ORDER BY e.checkpoint_step, e.evaluation_id, e.suite, e.cluster, e.subcluster, e.task, e.metric`, runID)
	if err != nil {
		return nil, db.wrap("read evals of run "+runID+" in", err)
	}
	defer rows.Close()
	var out []Eval
	for rows.Next() {
		var e Eval
		var v sql.NullFloat64
		if err := rows.Scan(&e.EvaluationID, &e.Classifier, &e.CheckpointStep, &e.Suite, &e.Task, &e.Cluster, &e.Subcluster, &e.Metric, &v); err != nil {
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

// EvalSummary is one evaluation of a checkpoint on a suite: the mean over all tasks, per
// cluster and per subcluster, and each task's value.
type EvalSummary struct {
	EvaluationID   int64              `json:"evaluation_id"`
	Classifier     string             `json:"classifier"` // "" when not recorded
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

// EvalSummaries summarises a run's evaluations on suite and metric, one summary per
// evaluation, in checkpoint step order and then as recorded; none when the run has no such evaluation. NaN values count as they
// are (a NaN task makes its means NaN), so a broken evaluation is not hidden.
func (db *DB) EvalSummaries(ctx context.Context, runID, suite, metric string) ([]EvalSummary, error) {
	evals, err := db.Evals(ctx, runID)
	if err != nil {
		return nil, err
	}
	return Summarize(evals, suite, metric), nil
}

// Summarize groups evals of suite and metric by evaluation (rows without one, by checkpoint
// step) and computes their means, in checkpoint step order and then as recorded.
func Summarize(evals []Eval, suite, metric string) []EvalSummary {
	type acc struct{ sum, n float64 }
	type key struct{ step, id int64 }
	byEval := map[key][]Eval{}
	for _, e := range evals {
		if !strings.EqualFold(e.Suite, suite) || e.Metric != metric || e.Task == "" {
			continue
		}
		k := key{e.CheckpointStep, e.EvaluationID}
		byEval[k] = append(byEval[k], e)
	}
	var out []EvalSummary
	for k, es := range byEval {
		s := EvalSummary{EvaluationID: k.id, Classifier: es[0].Classifier, CheckpointStep: k.step, Suite: suite, Metric: metric,
			Tasks: len(es), PerTask: map[string]float64{}, TaskCluster: map[string]string{}, TaskSubcluster: map[string]string{}}
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
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return a.CheckpointStep < b.CheckpointStep || a.CheckpointStep == b.CheckpointStep && a.EvaluationID < b.EvaluationID
	})
	return out
}

// ForClassifier keeps the summaries of evaluations made with classifier c, and those whose
// classifier was not recorded (evaluations from before natssl kept it), in their order.
func ForClassifier(summaries []EvalSummary, c string) []EvalSummary {
	var out []EvalSummary
	for _, s := range summaries {
		if s.Classifier == c || s.Classifier == "" {
			out = append(out, s)
		}
	}
	return out
}

// LatestPerClassifier is the last summary of each classifier (the latest checkpoint's, and of
// its evaluations the last recorded), sorted by classifier; an unrecorded classifier ("")
// counts as one of its own.
func LatestPerClassifier(summaries []EvalSummary) []EvalSummary {
	last := map[string]EvalSummary{}
	for _, s := range summaries {
		last[s.Classifier] = s
	}
	out := make([]EvalSummary, 0, len(last))
	for _, s := range last {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Classifier < out[j].Classifier })
	return out
}

// Headline is the evaluation a run's one number comes from: the last of HeadlineClassifier's
// (or of an unrecorded classifier), else the last of any; nil when there is none.
func Headline(summaries []EvalSummary) *EvalSummary {
	last, _ := LastAndBest(ForClassifier(summaries, HeadlineClassifier))
	if last == nil {
		last, _ = LastAndBest(summaries)
	}
	return last
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
