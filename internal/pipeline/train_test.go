package pipeline

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/trainer"
)

// TestTrain: a tracked run from start to finish, as the observer and the tracker see it.
func TestTrain(t *testing.T) {
	cfg := smokeConfig(t, t.TempDir())
	rec := &recorder{}
	res, err := Train(context.Background(), cfg, TrainOptions{Command: "test"}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Step != 6 || res.Reason != trainer.StopSteps || rec.steps != 6 || len(rec.started) != 1 || len(rec.finished) != 1 {
		t.Fatalf("result %+v; %d steps, started %+v, finished %+v", res, rec.steps, rec.started, rec.finished)
	}
	if s := rec.started[0]; s.RunID != res.RunID || s.TotalSteps != 6 || s.Resumed != nil || !strings.HasSuffix(s.CheckpointDir, res.RunID+"/checkpoints") {
		t.Errorf("started %+v", s)
	}
	if e := rec.finished[0]; e.Status != string(experiments.StatusFinished) || e.Err != nil {
		t.Errorf("finished %+v", e)
	}
	if !rec.noticed("checkpoint: step 3") {
		t.Errorf("the trainer's notices did not come through: %q", rec.notices)
	}
	runs, err := openDB(t, cfg).ListRuns(context.Background(), experiments.ListOptions{})
	if err != nil || len(runs) != 1 || runs[0].Status != experiments.StatusFinished || runs[0].Steps != 6 {
		t.Fatalf("tracker: %+v, %v", runs, err)
	}
}

// TestTrainRefusals: requests refused before a run is created.
func TestTrainRefusals(t *testing.T) {
	dir := t.TempDir()
	id := killAt(t, smokeConfig(t, dir), 1)
	var me *trainer.MismatchError
	_, err := Train(context.Background(), smokeConfig(t, dir, "train.lr=0.5"), TrainOptions{Resume: id}, nil)
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "train.lr: 0.00266 → 0.5") {
		t.Errorf("changed lr: err %v, want a *trainer.MismatchError naming train.lr", err)
	}
	var re *RequestError
	_, err = Train(context.Background(), smokeConfig(t, dir, "train.steps=0", "train.epochs=1", "data.batch_size=512", "train.devices=cpu"), TrainOptions{}, nil)
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "no full batch") {
		t.Errorf("an epoch smaller than a batch: err %v, want a *RequestError", err)
	}
	// A GPU that is not there: no driver on most machines, an index out of range on the rest.
	_, err = Train(context.Background(), smokeConfig(t, dir, "train.devices=cuda:99"), TrainOptions{}, nil)
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "cuda:99") || strings.Contains(err.Error(), "\n") {
		t.Errorf("cuda:99: err %v, want a *RequestError of one line naming the device", err)
	}
	runs, _ := openDB(t, smokeConfig(t, dir)).ListRuns(context.Background(), experiments.ListOptions{})
	if len(runs) != 1 { // the killed one; data that cannot fill a batch is refused before a run is created
		t.Errorf("%d runs in the tracker, want 1", len(runs))
	}
}

// TestKeepAliveNeverStopsTraining: failed beats (the database closed under the run) are
// reported once, not at every tick, and do not end anything; stop still returns.
func TestKeepAliveNeverStopsTraining(t *testing.T) {
	cfg := smokeConfig(t, t.TempDir())
	db, err := experiments.Open(context.Background(), cfg.Run.DB)
	if err != nil {
		t.Fatal(err)
	}
	run, err := db.CreateRun(context.Background(), experiments.RunSpec{Name: "beats"})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	rec := &recorder{}
	stop := keepAlive(context.Background(), run, 5*time.Millisecond, rec)
	time.Sleep(100 * time.Millisecond)
	stop()
	failed := 0
	for _, n := range rec.notices {
		if strings.Contains(n, "heartbeat of run "+run.ID()+" failed; training goes on") {
			failed++
		}
	}
	if failed != 1 || len(rec.notices) != 1 {
		t.Errorf("notices %q, want one about the failed beats", rec.notices)
	}
}

// TestTrainMethods: every method trains as a tracked run, with multi-crop where it pairs
// views: its params name the method and its own keys only, the online monitor scores the
// online encoder, and BYOL's and MoCo's checkpoints carry the target network.
func TestTrainMethods(t *testing.T) {
	crops := "augment.crops=[{size: 16, count: 2, scale: [0.3, 1]}, {size: 8, count: 2, scale: [0.1, 0.3]}]"
	for _, tc := range []struct {
		name string
		sets []string
	}{
		{"byol multi-crop", []string{"method.name=byol", crops}},
		{"moco", []string{"method.name=moco", "method.queue_size=32"}},
		{"vicreg", []string{"method.name=vicreg"}},
		{"barlow", []string{"method.name=barlow"}},
		{"simclr multi-crop", []string{crops}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := smokeConfig(t, t.TempDir(), tc.sets...)
			rec := &recorder{}
			res, err := Train(context.Background(), cfg, TrainOptions{Command: "test"}, rec)
			if err != nil {
				t.Fatal(err)
			}
			if res.Step != 6 || len(rec.monitored) == 0 {
				t.Fatalf("result %+v, %d monitored steps", res, len(rec.monitored))
			}
			run, err := openDB(t, cfg).GetRun(context.Background(), res.RunID)
			if err != nil {
				t.Fatal(err)
			}
			params := map[string]string{}
			for _, p := range run.Params {
				params[p.Key] = p.Value
			}
			if params["method.name"] != cfg.Method.Name || params["augment.crops"] == "" {
				t.Errorf("params method.name %q, augment.crops %q", params["method.name"], params["augment.crops"])
			}
			_, hasTemp := params["train.temperature"]
			_, hasQueue := params["method.queue_size"]
			if hasTemp != (cfg.Method.Name == "simclr") || hasQueue != (cfg.Method.Name == "moco") {
				t.Errorf("params hold train.temperature %v, method.queue_size %v for %s", hasTemp, hasQueue, cfg.Method.Name)
			}
			ck, err := trainer.ReadCheckpoint(res.Checkpoint)
			if err != nil {
				t.Fatal(err)
			}
			_, target := ck.Tensors["target/param/enc.conv1.w"]
			if target != cfg.Method.UsesTarget() {
				t.Errorf("checkpoint holds a target network: %v", target)
			}
		})
	}
}

// TestMoCoQueueAgainstTheData: a queue longer than the data's images is refused before the
// run starts, with the size that fits.
func TestMoCoQueueAgainstTheData(t *testing.T) {
	cfg := smokeConfig(t, t.TempDir(), "method.name=moco", "method.queue_size=1600")
	var re *RequestError
	_, err := Train(context.Background(), cfg, TrainOptions{}, nil)
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "method.queue_size 1600 holds more keys than the data has images") {
		t.Fatalf("err %v, want a *RequestError about the queue", err)
	}
}
