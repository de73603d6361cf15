package experiments

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
)

// TestEvaluationsKept: a second evaluation of the same checkpoint with another classifier is
// kept beside the first, each with its classifier, suite and checkpoint; the latest per
// classifier and the headline (the NeWT protocol's classifier) are picked from them.
func TestEvaluationsKept(t *testing.T) {
	ctx := context.Background()
	db := clockDB(t)
	r, err := db.CreateRun(ctx, RunSpec{Name: "a", GitCommit: "x"})
	if err != nil {
		t.Fatal(err)
	}
	rows := func(acc ...float64) []Eval {
		var out []Eval
		for i, a := range acc {
			task := string(rune('p' + i))
			out = append(out, Eval{Task: task, Cluster: "Birds", Metric: MetricAccuracy, Value: a}, Eval{Task: task, Metric: "C", Value: 100})
		}
		return out
	}
	add := func(step int64, classifier string, rows []Eval, outs []Outcome) int64 {
		t.Helper()
		id, err := db.AddEvaluation(ctx, Evaluation{RunID: r.ID(), CheckpointStep: step, CheckpointPath: "/c/step-" + classifier + ".ckpt",
			Suite: SuiteNeWT, SuitePath: "/s/labels.csv", SuiteSHA256: "feed" + classifier, Images: "/s/images.tar.gz", Classifier: classifier}, rows, outs)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	svc := add(100, "linearsvc", rows(0.5, 0.75), append(outcomes("p", "10"), outcomes("q", "1101")...))
	lr := add(100, "logreg", rows(0.9, 0.9), nil)
	svc2 := add(100, "linearsvc", rows(0.6, 0.6), nil)

	rec, err := db.GetRun(ctx, r.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Evaluations) != 3 {
		t.Fatalf("%d evaluations kept, want 3", len(rec.Evaluations))
	}
	ev := rec.Evaluation(lr)
	want := Evaluation{ID: lr, RunID: r.ID(), CheckpointStep: 100, CheckpointPath: "/c/step-logreg.ckpt", Suite: SuiteNeWT,
		SuitePath: "/s/labels.csv", SuiteSHA256: "feedlogreg", Images: "/s/images.tar.gz", Classifier: "logreg", At: ev.At}
	if !reflect.DeepEqual(*ev, want) || ev.At.IsZero() {
		t.Errorf("evaluation read back %+v, want %+v", *ev, want)
	}
	sums := Summarize(rec.Evals, SuiteNeWT, MetricAccuracy)
	if len(sums) != 3 {
		t.Fatalf("%d summaries, want one per evaluation: %+v", len(sums), sums)
	}
	latest := LatestPerClassifier(sums)
	if len(latest) != 2 || latest[0].EvaluationID != svc2 || latest[1].EvaluationID != lr || latest[1].Mean != 0.9 {
		t.Errorf("latest per classifier: %+v", latest)
	}
	if h := Headline(sums); h == nil || h.EvaluationID != svc2 {
		t.Errorf("headline %+v, want the last linearsvc evaluation", h)
	}
	if rec.NeWT == nil || rec.NeWT.Mean != 0.6 || rec.NeWT.Classifier != "linearsvc" {
		t.Errorf("run's NeWT %+v, want the last linearsvc mean 0.6", rec.NeWT)
	}
	runs, err := db.ListRuns(ctx, ListOptions{})
	if err != nil || runs[0].NeWT == nil || runs[0].NeWT.Mean != 0.6 {
		t.Errorf("listed NeWT %+v (%v), want 0.6", runs[0].NeWT, err)
	}
	if o, err := db.EvaluationOutcomes(ctx, svc); err != nil || rightString(o) != "101101" {
		t.Errorf("the first evaluation's outcomes %q, %v", rightString(o), err)
	}
	if o, err := db.Outcomes(ctx, r.ID(), 100, SuiteNeWT); err != nil || len(o) != 0 {
		t.Errorf("Outcomes gives the last evaluation's (none): %v, %v", o, err)
	}

	// Evaluated with logreg alone: the headline falls back to it.
	r2, _ := db.CreateRun(ctx, RunSpec{Name: "b", GitCommit: "x"})
	if _, err := db.AddEvaluation(ctx, Evaluation{RunID: r2.ID(), Suite: SuiteNeWT, Classifier: "logreg"}, rows(0.7), nil); err != nil {
		t.Fatal(err)
	}
	runs, _ = db.ListRuns(ctx, ListOptions{Name: "b"})
	if n := runs[0].NeWT; n == nil || n.Classifier != "logreg" || n.Mean != 0.7 {
		t.Errorf("logreg-only NeWT %+v", n)
	}
}

// TestMigrateFromSchema3: evaluations of schema 3 (one per run, step and suite, with their
// outcomes) become rows of evaluations with an unrecorded classifier, their rows and outcomes
// attached; later evaluations are added beside them. From schema 5, a sweep trial's validation
// evaluation (suite val, with outcomes) and a run's exports come through too.
func TestMigrateFromSchema3(t *testing.T) {
	for _, from := range []int{3, 5} {
		t.Run(fmt.Sprintf("from %d", from), func(t *testing.T) { migrateEvaluations(t, from) })
	}
}

func migrateEvaluations(t *testing.T, from int) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), fmt.Sprintf("v%d.db", from))
	raw := rawOpen(t, path)
	for _, m := range migrations[:from] {
		if _, err := raw.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	qs := []string{
		fmt.Sprintf(`CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (%d)`, from),
		`INSERT INTO runs (id, name, status, started_at) VALUES ('r1', 'old', 'FINISHED', '2025-01-01T00:00:00.000Z')`,
		`INSERT INTO evals VALUES ('r1', 50, 'newt', 't1', 'Birds', '', 'accuracy', 0.5, '2025-01-01T01:00:00.000Z'),
			('r1', 50, 'newt', 't1', 'Birds', '', 'C', 10, '2025-01-01T01:00:00.000Z'),
			('r1', 100, 'newt', 't1', 'Birds', '', 'accuracy', 1, '2025-01-01T02:00:00.000Z')`,
		`INSERT INTO eval_outcomes VALUES ('r1', 50, 'newt', 't1', 'a', 0, 0), ('r1', 50, 'newt', 't1', 'b', 1, 0)`,
	}
	if from >= 5 {
		qs = append(qs,
			`INSERT INTO exports VALUES ('r1', '/x/enc.onnx', 'onnx', 'aa', 10, 100, 'bb', 32, 0, 5, 1.5, 'v', '2025-01-01T03:00:00.000Z')`,
			`INSERT INTO sweeps (id, name, created_at, config_yaml) VALUES ('5e', 'lr', '2025-01-01T00:00:00.000Z', '')`,
			`INSERT INTO sweep_trials VALUES ('5e', 1, 1, 7)`,
			`INSERT INTO tags VALUES ('r1', 'sweep', '5e'), ('r1', 'trial', '1')`,
			`INSERT INTO evals VALUES ('r1', 100, 'val', 'v1', '', '', 'accuracy', 0.5, '2025-01-01T02:00:00.000Z')`,
			`INSERT INTO eval_outcomes VALUES ('r1', 100, 'val', 'v1', 'x', 2, 2), ('r1', 100, 'val', 'v1', 'y', 2, 1)`)
	}
	for _, q := range qs {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rec, err := db.GetRun(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	want := 2
	if from >= 5 {
		want = 3
	}
	if len(rec.Evaluations) != want || rec.Evaluations[0].CheckpointStep != 50 || rec.Evaluations[1].Classifier != "" {
		t.Fatalf("evaluations after migration: %+v", rec.Evaluations)
	}
	if len(rec.Evals) != want+1 || rec.Evals[0].EvaluationID != rec.Evaluations[0].ID {
		t.Errorf("evals after migration: %+v", rec.Evals)
	}
	if o, err := db.EvaluationOutcomes(ctx, rec.Evaluations[0].ID); err != nil || rightString(o) != "10" {
		t.Errorf("outcomes after migration: %q, %v", rightString(o), err)
	}
	if rec.NeWT == nil || rec.NeWT.CheckpointStep != 100 || rec.NeWT.Mean != 1 {
		t.Errorf("NeWT after migration %+v", rec.NeWT)
	}
	if from >= 5 {
		var val *Evaluation
		for i := range rec.Evaluations {
			if rec.Evaluations[i].Suite == SuiteValidation {
				val = &rec.Evaluations[i]
			}
		}
		if val == nil || val.CheckpointStep != 100 {
			t.Fatalf("no val evaluation at step 100 after migration: %+v", rec.Evaluations)
		}
		if o, err := db.Outcomes(ctx, "r1", 100, SuiteValidation); err != nil || rightString(o) != "10" {
			t.Errorf("val outcomes after migration: %q, %v", rightString(o), err)
		}
		if len(rec.Exports) != 1 || rec.Exports[0].Path != "/x/enc.onnx" {
			t.Errorf("exports after migration: %+v", rec.Exports)
		}
		if sw, err := db.GetSweep(ctx, "5e"); err != nil || len(sw.Trials) != 1 {
			t.Errorf("sweep after migration: %+v, %v", sw, err)
		}
	}
	if _, err := db.AddEvaluation(ctx, Evaluation{RunID: "r1", CheckpointStep: 100, Suite: SuiteNeWT, Classifier: "logreg"},
		[]Eval{{Task: "t1", Metric: MetricAccuracy, Value: 0}}, nil); err != nil {
		t.Fatal(err)
	}
	if evs, _ := db.Evaluations(ctx, "r1"); len(evs) != want+1 {
		t.Errorf("%d evaluations after adding one, want %d", len(evs), want+1)
	}
}

// TestEvaluationIDsNotReused: an evaluation deleted outside natssl (the sqlite3 shell, whose
// foreign keys are off, leaves its outcomes behind) does not hand its id to the next one, whose
// outcomes are its own.
func TestEvaluationIDsNotReused(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	r, err := db.CreateRun(ctx, RunSpec{Name: "a", GitCommit: "x"})
	if err != nil {
		t.Fatal(err)
	}
	add := func() int64 {
		t.Helper()
		id, err := db.AddEvaluation(ctx, Evaluation{RunID: r.ID(), CheckpointStep: 5, Suite: SuiteNeWT},
			[]Eval{{Task: "p", Metric: MetricAccuracy, Value: 0.5}}, outcomes("p", "10"))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	first := add()
	shell := rawOpen(t, db.Path()) // foreign keys off, as in the sqlite3 shell
	if _, err := shell.Exec(`DELETE FROM evaluations WHERE id = ?`, first); err != nil {
		t.Fatal(err)
	}
	second := add()
	if second == first {
		t.Fatalf("the deleted evaluation's id %d was given again", first)
	}
	if o, err := db.EvaluationOutcomes(ctx, second); err != nil || rightString(o) != "10" {
		t.Errorf("outcomes of the new evaluation: %q, %v; want its own two", rightString(o), err)
	}
}
