package experiments

import (
	"context"
	"database/sql"
	"fmt"
	"math"
)

// Outcome is one test image's result in an evaluation: the image's label and the label the
// probe predicted. The outcomes of a task are what its accuracy counts; a report resamples them
// for confidence intervals and pairs two runs' outcomes image by image.
type Outcome struct {
	CheckpointStep   int64
	Suite, Task      string
	Image            string // the image id of the suite
	Label, Predicted int
}

// Correct reports whether the prediction is the image's label.
func (o Outcome) Correct() bool { return o.Label == o.Predicted }

// evalKey names one task of one evaluation.
type evalKey struct {
	step        int64
	suite, task string
}

// checkOutcomes refuses outcomes that do not belong to a task whose accuracy is recorded with
// them, a repeated image, and outcomes whose share of right answers is not that accuracy: any
// of these would give a report intervals about numbers other than the ones it shows.
func checkOutcomes(evals []Eval, outcomes []Outcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	acc := map[evalKey]float64{}
	for _, e := range evals {
		if e.Metric == MetricAccuracy {
			acc[evalKey{e.CheckpointStep, e.Suite, e.Task}] = e.Value
		}
	}
	type tally struct{ right, n int }
	counts := map[evalKey]*tally{}
	seen := map[evalKey]map[string]bool{}
	var order []evalKey
	for _, o := range outcomes {
		k := evalKey{o.CheckpointStep, o.Suite, o.Task}
		if _, ok := acc[k]; !ok {
			return fmt.Errorf("outcome of image %q: task %q (suite %q, step %d) has no %s row among the evals recorded with it",
				o.Image, o.Task, o.Suite, o.CheckpointStep, MetricAccuracy)
		}
		if o.Image == "" {
			return fmt.Errorf("task %q: an outcome without an image id", o.Task)
		}
		if counts[k] == nil {
			counts[k], seen[k] = &tally{}, map[string]bool{}
			order = append(order, k)
		}
		if seen[k][o.Image] {
			return fmt.Errorf("task %q: image %q has two outcomes", o.Task, o.Image)
		}
		seen[k][o.Image] = true
		counts[k].n++
		if o.Correct() {
			counts[k].right++
		}
	}
	for _, k := range order {
		c := counts[k]
		got := float64(c.right) / float64(c.n)
		if want := acc[k]; !(math.Abs(got-want) <= 1e-12) {
			return fmt.Errorf("task %q: %d of %d outcomes right is accuracy %v, but the %s row says %v",
				k.task, c.right, c.n, got, MetricAccuracy, want)
		}
	}
	return nil
}

// insertOutcomes stores the outcomes of evaluation id inside tx.
func insertOutcomes(ctx context.Context, tx *sql.Tx, id int64, runID string, outcomes []Outcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO eval_outcomes (evaluation_id, run_id, checkpoint_step, suite, task,
		image_id, label, predicted) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer ins.Close()
	for _, o := range outcomes {
		if _, err := ins.ExecContext(ctx, id, runID, o.CheckpointStep, o.Suite, o.Task, o.Image, o.Label, o.Predicted); err != nil {
			return fmt.Errorf("outcome %s/%s/%s: %w", o.Suite, o.Task, o.Image, err)
		}
	}
	return nil
}

// Outcomes returns the per-image outcomes of a run's last evaluation on suite (matched without
// regard to case, as EvalSummaries does) at checkpoint step, ordered by task and image id;
// none for an evaluation recorded without them (by natssl before it kept them).
func (db *DB) Outcomes(ctx context.Context, runID string, step int64, suite string) ([]Outcome, error) {
	var id sql.NullInt64
	if err := db.sql.QueryRowContext(ctx, `SELECT max(id) FROM evaluations WHERE run_id = ? AND checkpoint_step = ?
		AND suite = ? COLLATE NOCASE`, runID, step, suite).Scan(&id); err != nil {
		return nil, db.wrap("read outcomes of run "+runID+" in", err)
	}
	if !id.Valid {
		return nil, nil
	}
	return db.EvaluationOutcomes(ctx, id.Int64)
}

// EvaluationOutcomes returns the per-image outcomes of one evaluation, ordered by task and
// image id; none for an evaluation recorded without them.
func (db *DB) EvaluationOutcomes(ctx context.Context, evaluationID int64) ([]Outcome, error) {
	op := fmt.Sprintf("read outcomes of evaluation %d in", evaluationID)
	rows, err := db.sql.QueryContext(ctx, `SELECT checkpoint_step, suite, task, image_id, label, predicted FROM eval_outcomes
		WHERE evaluation_id = ? ORDER BY task, image_id`, evaluationID)
	if err != nil {
		return nil, db.wrap(op, err)
	}
	defer rows.Close()
	var out []Outcome
	for rows.Next() {
		var o Outcome
		if err := rows.Scan(&o.CheckpointStep, &o.Suite, &o.Task, &o.Image, &o.Label, &o.Predicted); err != nil {
			return nil, db.wrap(op, err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap(op, err)
	}
	return out, nil
}
