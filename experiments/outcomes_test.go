package experiments

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// accuracyRows are a task's accuracy and C rows at step 5 of the newt suite.
func accuracyRows(task string, acc float64) []Eval {
	return []Eval{
		{CheckpointStep: 5, Suite: SuiteNeWT, Task: task, Cluster: "Birds", Metric: MetricAccuracy, Value: acc},
		{CheckpointStep: 5, Suite: SuiteNeWT, Task: task, Cluster: "Birds", Metric: "C", Value: 0.1},
	}
}

// outcomes makes a task's outcomes at step 5: image i is right where right[i] is '1'.
func outcomes(task, right string) []Outcome {
	var out []Outcome
	for i, c := range right {
		o := Outcome{CheckpointStep: 5, Suite: SuiteNeWT, Task: task, Image: task + "-" + string(rune('a'+i)), Label: i % 2}
		o.Predicted = o.Label
		if c == '0' {
			o.Predicted = 1 - o.Label
		}
		out = append(out, o)
	}
	return out
}

func rightString(os []Outcome) string {
	var b strings.Builder
	for _, o := range os {
		if o.Correct() {
			b.WriteByte('1')
		} else {
			b.WriteByte('0')
		}
	}
	return b.String()
}

func TestRecordEvaluationOutcomes(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	r, err := db.CreateRun(ctx, RunSpec{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	id := r.ID()
	both := func(rows ...[]Eval) []Eval {
		var out []Eval
		for _, r := range rows {
			out = append(out, r...)
		}
		return out
	}
	tests := []struct {
		name     string
		evals    []Eval
		outcomes []Outcome
		want     map[string]string // task → right/wrong per image after the call
	}{
		{"first evaluation", both(accuracyRows("t1", 0.75), accuracyRows("t2", 0.5)),
			append(outcomes("t1", "1101"), outcomes("t2", "10")...), map[string]string{"t1": "1101", "t2": "10"}},
		{"t1 again, fewer images: a second evaluation", accuracyRows("t1", 2.0/3), outcomes("t1", "011"),
			map[string]string{"t1": "011"}},
		{"C rows alone: an evaluation without outcomes", accuracyRows("t2", 0.5)[1:], nil, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := db.RecordEvaluation(ctx, id, tt.evals, tt.outcomes); err != nil {
				t.Fatal(err)
			}
			got, err := db.Outcomes(ctx, id, 5, "NeWT") // the suite matches without regard to case
			if err != nil {
				t.Fatal(err)
			}
			byTask := map[string][]Outcome{}
			for _, o := range got {
				byTask[o.Task] = append(byTask[o.Task], o)
			}
			gotRight := map[string]string{}
			for task, os := range byTask {
				gotRight[task] = rightString(os)
				if want := outcomes(task, gotRight[task]); !reflect.DeepEqual(os, want) {
					t.Errorf("%s: read back %+v, want %+v", task, os, want)
				}
			}
			if !reflect.DeepEqual(gotRight, tt.want) {
				t.Errorf("outcomes %v, want %v", gotRight, tt.want)
			}
		})
	}
	if o, err := db.Outcomes(ctx, id, 6, SuiteNeWT); err != nil || len(o) != 0 {
		t.Errorf("outcomes of a step never evaluated: %v, %v", o, err)
	}
	// Every evaluation is kept: the first one's outcomes are still there.
	evs, err := db.Evaluations(ctx, id)
	if err != nil || len(evs) != len(tests) {
		t.Fatalf("evaluations %+v (%v), want %d", evs, err, len(tests))
	}
	first, err := db.EvaluationOutcomes(ctx, evs[0].ID)
	if err != nil || rightString(first) != "110110" {
		t.Errorf("the first evaluation's outcomes: %q (%v), want t1 1101 and t2 10", rightString(first), err)
	}
}

func TestRecordEvaluationRefuses(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	r, err := db.CreateRun(ctx, RunSpec{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	id := r.ID()
	if err := db.RecordEvaluation(ctx, id, accuracyRows("t1", 0.5), outcomes("t1", "10")); err != nil {
		t.Fatal(err)
	}
	dup := outcomes("t1", "10")
	dup[1].Image = dup[0].Image
	noImage := outcomes("t1", "10")
	noImage[0].Image = ""
	tests := []struct {
		name     string
		run      string
		evals    []Eval
		outcomes []Outcome
		is       error
		mention  string
	}{
		{"outcomes of a task not recorded with them", id, accuracyRows("t1", 0.5), outcomes("t9", "10"), nil, `task "t9" (suite "newt", step 5) has no accuracy row`},
		{"outcomes that do not give the accuracy", id, accuracyRows("t1", 0.75), outcomes("t1", "10"), nil, "1 of 2 outcomes right is accuracy 0.5, but the accuracy row says 0.75"},
		{"an image twice", id, accuracyRows("t1", 0.5), dup, nil, `image "t1-a" has two outcomes`},
		{"an image without id", id, accuracyRows("t1", 0.5), noImage, nil, "without an image id"},
		{"a run that does not exist", "feedface", accuracyRows("t1", 0.5), outcomes("t1", "10"), ErrNotFound, "feedface"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := db.RecordEvaluation(ctx, tt.run, tt.evals, tt.outcomes)
			if err == nil || !strings.Contains(err.Error(), tt.mention) || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Fatalf("error %v, want one saying %q", err, tt.mention)
			}
			// Nothing was written: the first evaluation stands.
			got, err := db.Outcomes(ctx, id, 5, SuiteNeWT)
			if err != nil || rightString(got) != "10" {
				t.Errorf("outcomes after a refused call: %v (%v), want the first evaluation's", got, err)
			}
			evals, err := db.Evals(ctx, id)
			if err != nil || len(evals) != 2 || evals[1].Metric != MetricAccuracy || evals[1].Value != 0.5 {
				t.Errorf("evals after a refused call: %+v (%v)", evals, err)
			}
		})
	}
}
