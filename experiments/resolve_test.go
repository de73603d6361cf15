package experiments

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// clockDB is a fresh database whose clock moves a minute at every reading, so that runs
// created one after another start in that order.
func clockDB(t *testing.T) *DB {
	t.Helper()
	db := openTemp(t)
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	db.now = func() time.Time {
		now = now.Add(time.Minute)
		return now
	}
	db.StaleAfter = 1000 * time.Hour
	return db
}

// createRuns creates runs with these names, in this order, and returns their ids.
func createRuns(t *testing.T, db *DB, names ...string) []string {
	t.Helper()
	var ids []string
	for _, n := range names {
		r, err := db.CreateRun(context.Background(), RunSpec{Name: n, GitCommit: "x"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID())
	}
	return ids
}

// setID gives a run a chosen id, so that prefixes can be tested.
func setID(t *testing.T, db *DB, from, to string) {
	t.Helper()
	if _, err := db.sql.Exec(`UPDATE runs SET id = ? WHERE id = ?`, to, from); err != nil {
		t.Fatal(err)
	}
}

func TestResolveRun(t *testing.T) {
	ctx := context.Background()
	db := clockDB(t)
	ids := createRuns(t, db, "simclr", "other", "simclr", "abc", "old", "simclr")
	want := map[string]string{
		"simclr@1": "aaaa0000000000000000000000000001", "other": "bbbb0000000000000000000000000002",
		"simclr@2": "cccc0000000000000000000000000003", "abc": "abc00000000000000000000000000004",
		"old": "dddd0000000000000000000000000005", "simclr@3": "dddd0000000000000000000000000006",
	}
	for i, key := range []string{"simclr@1", "other", "simclr@2", "abc", "old", "simclr@3"} {
		setID(t, db, ids[i], want[key])
	}
	// The last run of "simclr" is archived: its name and latest skip it, @3 still counts it.
	if err := db.SetArchived(ctx, want["simclr@3"], true); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ref     string
		want    string
		is      error
		mention []string
	}{
		{ref: "simclr", want: want["simclr@2"]},
		{ref: "simclr@1", want: want["simclr@1"]},
		{ref: "simclr@3", want: want["simclr@3"]},
		{ref: "latest", want: want["old"]},
		{ref: "bbbb", want: want["other"]},
		{ref: "BBBB", want: want["other"]},
		{ref: "  other ", want: want["other"]},
		{ref: want["simclr@3"], want: want["simclr@3"]},
		{ref: "old", want: want["old"]}, // a name that is no hex prefix
		// "abc" is a run's name and the prefix of the same run's id: one run, no ambiguity.
		{ref: "abc", want: want["abc"]},
		{ref: "dddd", is: ErrAmbiguous, mention: []string{want["old"], want["simclr@3"], "give more of the id"}},
		{ref: "simclr@4", is: ErrNotFound, mention: []string{`"simclr" has 3 run(s)`}},
		{ref: "simclr@0", is: ErrNotFound, mention: []string{"count from @1"}},
		{ref: "nothing", is: ErrNotFound, mention: []string{"NAME@K", "latest"}},
		{ref: "", mention: []string{"empty run id"}},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, err := db.ResolveRun(ctx, tt.ref)
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("ResolveRun(%q) = %q, %v; want %q", tt.ref, got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ResolveRun(%q) = %q, want an error", tt.ref, got)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v, want %v", err, tt.is)
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}

	// A name that is also the prefix of another run's id is ambiguous, and both are listed.
	createRuns(t, db, "cccc")
	_, err := db.ResolveRun(ctx, "cccc")
	if !errors.Is(err, ErrAmbiguous) || !strings.Contains(err.Error(), `the latest run named "cccc"`) || !strings.Contains(err.Error(), want["simclr@2"]) {
		t.Errorf("name and prefix of two runs: %v", err)
	}
}

func TestResolveLatestOfEmptyTracker(t *testing.T) {
	_, err := openTemp(t).ResolveRun(context.Background(), "latest")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "no runs") {
		t.Errorf("latest of no runs: %v", err)
	}
}
