package experiments

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRecordExport(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	r, err := db.CreateRun(ctx, RunSpec{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := db.CreateRun(ctx, RunSpec{Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	db.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	onnx := Export{Path: "/runs/a/exports/step-6.onnx", Format: "onnx", SHA256: strings.Repeat("ab", 32), Bytes: 4096,
		CheckpointStep: 6, CheckpointSHA256: strings.Repeat("cd", 32), ImageSize: 32, Params: 24608, MFLOPs: 12.5, Version: "v1"}
	st := Export{Path: "/runs/a/exports/step-6-head.safetensors", Format: "safetensors", SHA256: strings.Repeat("ef", 32), Bytes: 5000,
		CheckpointStep: 6, CheckpointSHA256: strings.Repeat("cd", 32), ImageSize: 32, WithHead: true, Params: 27000, MFLOPs: 12.6, Version: "v1"}
	for _, e := range []Export{onnx, st} {
		if err := db.RecordExport(ctx, r.ID(), e); err != nil {
			t.Fatal(err)
		}
	}
	// The same path again: the file now holds a later checkpoint's export.
	onnx.CheckpointStep, onnx.SHA256, onnx.Bytes = 9, strings.Repeat("12", 32), 4100
	if err := db.RecordExport(ctx, r.ID(), onnx); err != nil {
		t.Fatal(err)
	}
	got, err := db.Exports(ctx, r.ID())
	if err != nil {
		t.Fatal(err)
	}
	st.At, onnx.At = clock.Add(-time.Second), clock
	if want := []Export{st, onnx}; !reflect.DeepEqual(got, want) {
		t.Errorf("exports\n got %+v\nwant %+v", got, want)
	}
	rec, err := db.GetRun(ctx, r.ID())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rec.Exports, got) {
		t.Errorf("GetRun exports %+v", rec.Exports)
	}
	if none, err := db.Exports(ctx, other.ID()); err != nil || len(none) != 0 {
		t.Errorf("the other run's exports: %v, %v", none, err)
	}

	for _, tc := range []struct {
		name  string
		run   string
		e     Export
		want  string
		isErr error
	}{
		{"unknown run", "0000", onnx, "record export /runs/a/exports/step-6.onnx of run 0000", ErrNotFound},
		{"no path", r.ID(), Export{Format: "onnx", SHA256: "ab"}, "path, format and sha256 must be set", nil},
		{"no sha256", r.ID(), Export{Path: "x.onnx", Format: "onnx"}, "path, format and sha256 must be set", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := db.RecordExport(ctx, tc.run, tc.e)
			if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.isErr != nil && !errors.Is(err, tc.isErr)) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	if after, _ := db.Exports(ctx, r.ID()); len(after) != 2 {
		t.Errorf("%d exports after refused records, want 2", len(after))
	}
}
