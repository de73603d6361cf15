package pipeline

import (
	"context"
	"errors"
	"testing"

	"github.com/natssl/natssl/trainer"
)

// TestFindResumeAuto: --resume auto takes the newest run of the config's name whose latest
// checkpoint is short of its last step, over real runs in a real tracker.
func TestFindResumeAuto(t *testing.T) {
	tests := []struct {
		name string
		// runs are trained in this order: "kill@N" (a signal after step N), "done" (all
		// steps), or "other@N" (another run.name, killed after step N).
		runs []string
		want int // index into runs of the run resumed; -1 for a new run
		step int64
	}{
		{name: "none", runs: nil, want: -1},
		{name: "only finished runs", runs: []string{"done"}, want: -1},
		{name: "several runs of one name: the newest", runs: []string{"kill@1", "kill@2", "kill@1"}, want: 2, step: 1},
		{name: "a finished newest run beside an older killed one", runs: []string{"kill@2", "done"}, want: 0, step: 2},
		{name: "another name is not taken", runs: []string{"kill@1", "other@2"}, want: 0, step: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var ids []string
			for _, r := range tt.runs {
				var step int64
				switch {
				case r == "done":
					ids = append(ids, train(t, smokeConfig(t, dir, "train.steps=2"), TrainOptions{}).RunID)
				case r[:5] == "kill@":
					step = int64(r[5] - '0')
					ids = append(ids, killAt(t, smokeConfig(t, dir), step))
				default: // other@N
					step = int64(r[6] - '0')
					ids = append(ids, killAt(t, smokeConfig(t, dir, "run.name=other"), step))
				}
			}
			cfg := smokeConfig(t, dir)
			rec := &recorder{}
			got, err := FindResume(context.Background(), openDB(t, cfg), cfg, "auto", rec)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want < 0 {
				if got != nil {
					t.Fatalf("resumed run %s from step %d, want a new run", got.RunID, got.Checkpoint.Header.Step)
				}
				if !rec.noticed("starting a new run") {
					t.Errorf("notices %q do not say a new run starts", rec.notices)
				}
				return
			}
			if got == nil || got.RunID != ids[tt.want] || got.Checkpoint.Header.Step != tt.step || got.Run == nil || got.Run.ID != got.RunID {
				t.Fatalf("resume %+v, want run %s at step %d", got, ids[tt.want], tt.step)
			}
			if !rec.noticed("resuming run "+got.RunID, "KILLED") {
				t.Errorf("notices %q do not name the run resumed", rec.notices)
			}
		})
	}
}

// TestFindResumeByName resolves a run id prefix and a checkpoint file, and refuses what is
// neither.
func TestFindResumeByName(t *testing.T) {
	dir := t.TempDir()
	cfg := smokeConfig(t, dir)
	id := killAt(t, cfg, 2)
	db := openDB(t, cfg)
	ctx := context.Background()
	r, err := FindResume(ctx, db, cfg, id[:6], nil)
	if err != nil || r.RunID != id || r.Checkpoint.Header.Step != 2 {
		t.Fatalf("by prefix: %+v, %v", r, err)
	}
	r, err = FindResume(ctx, db, cfg, r.Checkpoint.Path, nil)
	if err != nil || r.RunID != id {
		t.Fatalf("by checkpoint file: %+v, %v", r, err)
	}
	other := smokeConfig(t, t.TempDir())
	r, err = FindResume(ctx, openDB(t, other), other, r.Checkpoint.Path, nil)
	if err != nil || r.RunID != "" || r.Checkpoint.Header.RunID != id {
		t.Fatalf("checkpoint of a run another tracker does not know: %+v, %v; want a new run", r, err)
	}
	_, err = FindResume(ctx, db, cfg, "ffffffff", nil)
	var re *RequestError
	if !errors.As(err, &re) {
		t.Fatalf("unknown run: err %v, want a *RequestError", err)
	}
}

// TestTornNewestCheckpoint: a run whose newest checkpoint file is torn resumes, and is
// evaluated, from the one before it, with a notice naming the torn file.
func TestTornNewestCheckpoint(t *testing.T) {
	dir := t.TempDir()
	cfg := smokeConfig(t, dir, "train.checkpoint_every=2", "train.keep_checkpoints=3")
	id := killAt(t, cfg, 4) // checkpoints at steps 2 and 4
	db := openDB(t, cfg)
	cks, err := db.Checkpoints(context.Background(), id)
	if err != nil || len(cks) != 2 || cks[1].Step != 4 {
		t.Fatalf("checkpoints %+v, %v", cks, err)
	}
	torn := cks[1].Path
	tear(t, torn)

	rec := &recorder{}
	c, err := LatestCheckpoint(context.Background(), db, cfg, id, rec)
	if err != nil || c.Header.Step != 2 || !rec.noticed("skipping checkpoint "+torn) {
		t.Fatalf("latest: %v, %v; notices %q", c, err, rec.notices)
	}

	t.Run("eval", func(t *testing.T) {
		rec := &recorder{}
		res, err := Evaluate(context.Background(), cfg, EvalOptions{Run: id[:8], Workers: 2}, rec)
		if err != nil {
			t.Fatal(err)
		}
		if res.RunID != id || res.CheckpointStep != 2 || !rec.noticed("skipping checkpoint "+torn) {
			t.Errorf("recorded against %s step %d; notices %q", res.RunID, res.CheckpointStep, rec.notices)
		}
	})
	t.Run("train", func(t *testing.T) {
		rec := &recorder{}
		res, err := Train(context.Background(), cfg, TrainOptions{Resume: id}, rec)
		if err != nil {
			t.Fatal(err)
		}
		if res.RunID != id || len(rec.started) != 1 || rec.started[0].Resumed.Header.Step != 2 || res.Step != 6 {
			t.Fatalf("resumed %+v from %+v", res, rec.started)
		}
		if !rec.noticed("skipping checkpoint "+torn) || !rec.noticed("resuming run "+id+" from step 2") {
			t.Errorf("notices %q", rec.notices)
		}
	})
	t.Run("no checkpoint verifies", func(t *testing.T) {
		cks, _ := db.Checkpoints(context.Background(), id)
		for _, c := range cks {
			tear(t, c.Path)
		}
		_, err := LatestCheckpoint(context.Background(), db, cfg, id, nil)
		if !errors.Is(err, trainer.ErrNoCheckpoint) {
			t.Fatalf("err %v, want trainer.ErrNoCheckpoint", err)
		}
	})
}
