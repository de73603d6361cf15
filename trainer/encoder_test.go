package trainer

import (
	"context"
	"math"
	"testing"
)

func TestEncoderFeatures(t *testing.T) {
	ctx := context.Background()
	cfg := tinyConfig()
	cfg.Train.Steps = 3
	dir := t.TempDir()
	res, err := Train(ctx, Options{Config: cfg, Source: &synthSource{batch: 8, size: 8, seed: 1, perEpoch: 64}, CheckpointDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	enc, got, err := LoadEncoder(res.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	if got.Model != cfg.Model || got.Run.Seed != cfg.Run.Seed {
		t.Fatalf("config from checkpoint: %+v", got.Model)
	}
	if enc.Dim() != 8*cfg.Model.Width {
		t.Fatalf("Dim %d", enc.Dim())
	}
	n := featureChunk + 5 // more than one chunk, the last one partial
	x := randomViews(4, n, 8)[0]
	f1, err := enc.Features(ctx, x, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(f1) != n*enc.Dim() {
		t.Fatalf("%d features", len(f1))
	}
	// Evaluation mode: an image's features do not depend on the rest of the batch (up to
	// rounding: OpenBLAS blocks products of different sizes differently).
	f2, err := enc.Features(ctx, x[:3*8*8*2], 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range f2 {
		if math.Abs(float64(f2[i]-f1[i])) > 1e-5*(1+math.Abs(float64(f1[i]))) {
			t.Fatalf("feature %d: %v alone, %v in a batch", i, f2[i], f1[i])
		}
	}
	clone, err := enc.Clone()
	if err != nil {
		t.Fatal(err)
	}
	f3, _ := clone.Features(ctx, x, n)
	for i := range f3 {
		if f3[i] != f1[i] {
			t.Fatalf("clone feature %d differs", i)
		}
	}
	fresh, err := NewEncoder(cfg.Model, 8, cfg.Run.Seed)
	if err != nil {
		t.Fatal(err)
	}
	f4, _ := fresh.Features(ctx, x, n)
	same := true
	for i := range f4 {
		same = same && f4[i] == f1[i]
	}
	if same {
		t.Fatal("trained and random-init encoders give the same features")
	}
	if _, err := enc.Features(ctx, x[:10], 1); err == nil {
		t.Fatal("no error for input that is not square images")
	}
}
