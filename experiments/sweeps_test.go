package experiments

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natssl/natssl/configs"
)

func TestSweepRoundTrip(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	in := Sweep{Name: "fmnist-simclr", ConfigYAML: "run:\n  name: x\n", Spec: `{"random":0}`, Command: "natssl sweep",
		Trials: []SweepTrial{
			{N: 1, Config: 1, Seed: 42, Values: []configs.KeyValue{{Key: "train.temperature", Value: "0.1"}, {Key: "model.width", Value: "32"}}},
			{N: 2, Config: 1, Seed: 43, Values: []configs.KeyValue{{Key: "train.temperature", Value: "0.1"}, {Key: "model.width", Value: "32"}}},
			{N: 3, Config: 2, Seed: 42, Values: []configs.KeyValue{{Key: "train.temperature", Value: "0.5"}, {Key: "model.width", Value: "8"}}},
			{N: 4, Config: 3, Seed: 42},
		}}
	id, err := db.CreateSweep(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.GetSweep(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != id || got.Name != in.Name || got.ConfigYAML != in.ConfigYAML || got.Spec != in.Spec || got.Command != in.Command || got.CreatedAt.IsZero() {
		t.Errorf("sweep %+v, want %+v", got, in)
	}
	if !reflect.DeepEqual(got.Trials, in.Trials) {
		t.Errorf("trials %+v\nwant %+v", got.Trials, in.Trials)
	}
	if r, err := db.ResolveSweep(ctx, id[:6]); err != nil || r != id {
		t.Errorf("ResolveSweep(prefix) = %q, %v", r, err)
	}
	if _, err := db.ResolveSweep(ctx, "zz"); !errors.Is(err, ErrNoSweep) {
		t.Errorf("ResolveSweep(unknown) error %v, want ErrNoSweep", err)
	}
	if _, err := db.GetSweep(ctx, "zz"); !errors.Is(err, ErrNoSweep) {
		t.Errorf("GetSweep(unknown) error %v, want ErrNoSweep", err)
	}
	if _, err := db.CreateSweep(ctx, Sweep{Trials: []SweepTrial{{N: 2}}}); err == nil {
		t.Error("a sweep whose trials are not numbered from 1 was accepted")
	}

	// Runs tagged with the sweep's trials, and others, each started a second after the last.
	start, tick := time.Now(), 0
	db.now = func() time.Time { tick++; return start.Add(time.Duration(tick) * time.Second) }
	other, err := db.CreateSweep(ctx, Sweep{Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	var want []TrialRun
	for _, tr := range []struct {
		sweep string
		trial int
	}{{id, 2}, {other, 1}, {id, 1}, {"", 0}, {id, 2}} {
		tags := map[string]string{}
		if tr.sweep != "" {
			tags = map[string]string{TagSweep: tr.sweep, TagTrial: strconv.Itoa(tr.trial)}
		}
		r, err := db.CreateRun(ctx, RunSpec{Name: "t", Tags: tags})
		if err != nil {
			t.Fatal(err)
		}
		if tr.sweep == id {
			want = append(want, TrialRun{Trial: tr.trial, RunID: r.ID()})
		}
	}
	runs, err := db.SweepRuns(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(runs, want) {
		t.Errorf("SweepRuns = %+v, want %+v (oldest first)", runs, want)
	}
}

// TestSweepReferences: sweeps are listed newest first, and a sweep id prefix is read by the
// same resolver as a run's: unique, exact, ambiguous (the candidates listed) or unknown.
func TestSweepReferences(t *testing.T) {
	ctx := context.Background()
	db := clockDB(t)
	var ids []string
	for _, name := range []string{"first", "second", "third"} {
		id, err := db.CreateSweep(ctx, Sweep{Name: name}) // no trials: the ids are rewritten below
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	want := []string{"abc00000000000000000000000000001", "abc00000000000000000000000000002", "d0000000000000000000000000000003"}
	for i, id := range ids {
		if _, err := db.sql.Exec(`UPDATE sweeps SET id = ? WHERE id = ?`, want[i], id); err != nil {
			t.Fatal(err)
		}
	}
	list, err := db.ListSweeps(ctx, 2)
	if err != nil || len(list) != 2 || list[0].Name != "third" || list[1].ID != want[1] || list[0].CreatedAt.IsZero() {
		t.Fatalf("ListSweeps(2) = %+v, %v; want third then second", list, err)
	}
	tests := []struct {
		ref, want string
		is        error
	}{
		{"d", want[2], nil},
		{"ABC00000000000000000000000000001", want[0], nil},
		{"abc", "", ErrAmbiguous},
		{"e", "", ErrNoSweep},
		{"third", "", ErrNoSweep}, // sweeps are not taken by name
	}
	for _, tt := range tests {
		got, err := db.ResolveSweep(ctx, tt.ref)
		if got != tt.want || !errors.Is(err, tt.is) || tt.is == nil && err != nil {
			t.Errorf("ResolveSweep(%q) = %q, %v; want %q, %v", tt.ref, got, err, tt.want, tt.is)
		}
		if errors.Is(err, ErrAmbiguous) && (!strings.Contains(err.Error(), want[0]) || !strings.Contains(err.Error(), "second")) {
			t.Errorf("ambiguous sweep prefix: %v, want the candidates listed", err)
		}
	}
}
