package experiments

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/natssl/natssl/experiments/metric"
)

// listFixture: five runs with losses, NeWT means, statuses and tags to filter and sort on.
func listFixture(t *testing.T) *DB {
	t.Helper()
	ctx := context.Background()
	db := clockDB(t)
	type spec struct {
		name   string
		status Status
		steps  int64
		loss   float64
		newt   float64 // 0: not evaluated
		tags   map[string]string
	}
	for _, s := range []spec{
		{"simclr-a", StatusFinished, 100, 3.0, 0.61, map[string]string{"lr": "0.1"}},
		{"simclr-b", StatusFinished, 300, 2.5, 0.66, map[string]string{"lr": "0.3"}},
		{"byol-a", StatusFailed, 20, 4.0, 0, map[string]string{"lr": "0.1"}},
		{"simclr-c", StatusKilled, 50, 3.5, 0.58, nil},
		{"live", StatusRunning, 10, 5.0, 0, nil},
	} {
		r, err := db.CreateRun(ctx, RunSpec{Name: s.name, GitCommit: "x", Tags: s.tags})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.LogMetrics(ctx, s.steps, map[string]float64{metric.Loss: s.loss + 0.1, metric.LossLast: s.loss}); err != nil {
			t.Fatal(err)
		}
		if s.newt > 0 {
			if err := db.RecordEvals(ctx, r.ID(), []Eval{{CheckpointStep: s.steps, Suite: SuiteNeWT, Task: "t", Metric: MetricAccuracy, Value: s.newt}}); err != nil {
				t.Fatal(err)
			}
		}
		if s.status.Terminal() {
			if err := r.Finish(ctx, s.status, ""); err != nil {
				t.Fatal(err)
			}
		} else if err := r.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func names(runs []*RunInfo) []string {
	out := []string{}
	for _, r := range runs {
		out = append(out, r.Name)
	}
	return out
}

func TestListRunsFiltersAndOrders(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		opt  ListOptions
		want []string
	}{
		{"all, oldest first", ListOptions{}, []string{"simclr-a", "simclr-b", "byol-a", "simclr-c", "live"}},
		{"name glob", ListOptions{Name: "simclr-*"}, []string{"simclr-a", "simclr-b", "simclr-c"}},
		{"status", ListOptions{Statuses: []Status{StatusFailed, StatusKilled}}, []string{"byol-a", "simclr-c"}},
		{"live runs", ListOptions{Statuses: []Status{StatusRunning}}, []string{"live"}},
		{"tag", ListOptions{Tags: map[string]string{"lr": "0.1"}}, []string{"simclr-a", "byol-a"}},
		{"tag and name", ListOptions{Tags: map[string]string{"lr": "0.1"}, Name: "simclr*"}, []string{"simclr-a"}},
		{"newest first", ListOptions{Sort: "started"}, []string{"live", "simclr-c", "byol-a", "simclr-b", "simclr-a"}},
		{"oldest first, reversed", ListOptions{Reverse: true}, []string{"live", "simclr-c", "byol-a", "simclr-b", "simclr-a"}},
		{"started, reversed", ListOptions{Sort: "started", Reverse: true}, []string{"simclr-a", "simclr-b", "byol-a", "simclr-c", "live"}},
		{"best NeWT first, unevaluated last", ListOptions{Sort: "newt"}, []string{"simclr-b", "simclr-a", "simclr-c", "byol-a", "live"}},
		{"lowest loss first", ListOptions{Sort: "loss"}, []string{"simclr-b", "simclr-a", "simclr-c", "byol-a", "live"}},
		{"most steps first", ListOptions{Sort: "steps", Limit: 2}, []string{"simclr-b", "simclr-a"}},
		{"by name", ListOptions{Sort: "name"}, []string{"byol-a", "live", "simclr-a", "simclr-b", "simclr-c"}},
		{"the two newest", ListOptions{Sort: "started", Limit: 2}, []string{"live", "simclr-c"}},
		{"nothing matches", ListOptions{Name: "nope*"}, []string{}},
	}
	db := listFixture(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runs, err := db.ListRuns(ctx, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(runs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := db.ListRuns(ctx, ListOptions{Sort: "speed"}); err == nil || !strings.Contains(err.Error(), "started, name") {
		t.Errorf("unknown order: %v", err)
	}
}

func TestListRunsStaleAndLastLoss(t *testing.T) {
	ctx := context.Background()
	db := listFixture(t)
	db.StaleAfter = time.Nanosecond
	runs, err := db.ListRuns(ctx, ListOptions{Statuses: []Status{StatusStale}})
	if err != nil || !reflect.DeepEqual(names(runs), []string{"live"}) {
		t.Fatalf("stale runs %v, %v", names(runs), err)
	}
	if loss, mean, ok := runs[0].LastLoss(); !ok || mean || loss != 5.0 {
		t.Errorf("LastLoss = %v, %v, %v; want the last step's 5.0", loss, mean, ok)
	}
	if runs, _ := db.ListRuns(ctx, ListOptions{Statuses: []Status{StatusRunning}}); len(runs) != 0 {
		t.Errorf("a stale run listed as running: %v", names(runs))
	}
}

func TestArchiveTagDelete(t *testing.T) {
	ctx := context.Background()
	db := listFixture(t)
	id, err := db.ResolveRun(ctx, "simclr-b")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetArchived(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	listed := func(opt ListOptions) []string {
		runs, err := db.ListRuns(ctx, opt)
		if err != nil {
			t.Fatal(err)
		}
		return names(runs)
	}
	if got := listed(ListOptions{Name: "simclr-*"}); !reflect.DeepEqual(got, []string{"simclr-a", "simclr-c"}) {
		t.Errorf("archived run listed: %v", got)
	}
	if got := listed(ListOptions{Archived: ArchivedOnly}); !reflect.DeepEqual(got, []string{"simclr-b"}) {
		t.Errorf("archived runs: %v", got)
	}
	if got := listed(ListOptions{Archived: ArchivedToo, Name: "simclr-b"}); len(got) != 1 {
		t.Errorf("archived run not listed with ArchivedToo: %v", got)
	}
	if rec, err := db.GetRun(ctx, id); err != nil || !rec.Archived() {
		t.Errorf("record of an archived run: archived %v, %v", rec.Archived(), err)
	}
	if err := db.SetArchived(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	if got := listed(ListOptions{Name: "simclr-b"}); len(got) != 1 {
		t.Errorf("restored run not listed: %v", got)
	}

	if err := db.SetTags(ctx, id, map[string]string{"lr": "0.5", TagNote: "the good one"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.SetTags(ctx, id, nil, []string{"lr"}); err != nil {
		t.Fatal(err)
	}
	if tags, err := db.Tags(ctx, id); err != nil || !reflect.DeepEqual(tags, map[string]string{TagNote: "the good one"}) {
		t.Errorf("tags %v, %v", tags, err)
	}

	r, err := db.ReopenRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.RecordCheckpoint(ctx, 300, "/ckpt/300.ckpt", "abc", 10); err != nil {
		t.Fatal(err)
	}
	if err := r.Finish(ctx, StatusFinished, ""); err != nil {
		t.Fatal(err)
	}
	cks, err := db.DeleteRun(ctx, id)
	if err != nil || len(cks) != 1 || cks[0].Path != "/ckpt/300.ckpt" {
		t.Fatalf("DeleteRun: %+v, %v", cks, err)
	}
	for _, table := range []string{"runs", "params", "metrics", "latest_metrics", "tags", "checkpoints", "evaluations", "evals", "eval_outcomes"} {
		col := "run_id"
		if table == "runs" {
			col = "id"
		}
		var n int
		if err := db.sql.QueryRow(`SELECT count(*) FROM `+table+` WHERE `+col+` = ?`, id).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: %d rows of the deleted run left (%v)", table, n, err)
		}
	}
	for _, err := range []error{
		db.SetArchived(ctx, id, true),
		db.SetTags(ctx, id, map[string]string{"a": "b"}, nil),
		func() error { _, err := db.DeleteRun(ctx, id); return err }(),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("on a deleted run: %v, want ErrNotFound", err)
		}
	}
}
