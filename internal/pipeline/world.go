package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/mpi"
	"github.com/natssl/natssl/trainer"
)

// WorldSizeTag is the run tag that records how many processes (MPI ranks) trained a run; a
// run resumed with another world size gets the new one.
const WorldSizeTag = "world_size"

// ranks is an MPI job seen by the trainer (trainer.Ranks): the World's collectives, and its
// gradient sums through one ordered Reducer.
type ranks struct {
	*mpi.World
	sum *mpi.Reducer
}

var _ trainer.Ranks = ranks{}

func (r ranks) Sum(bufs ...[]float32) error { return r.sum.Sum(bufs...) }

// newRanks returns the job's ranks, or nil when w is nil or a world of one.
func newRanks(w *mpi.World) *ranks {
	if w == nil || w.Size() == 1 {
		return nil
	}
	return &ranks{World: w, sum: w.NewReducer(0)}
}

// worldStart is what rank 0 tells the other ranks before training: the run and whether a
// checkpoint follows.
type worldStart struct {
	RunID   string `json:"run_id"`
	Resumed string `json:"resumed,omitempty"` // the checkpoint's path on rank 0
}

// trainWorld is Train for one rank of an MPI job. All ranks check that they hold the same
// config; rank 0 alone opens the tracker, finds what to resume and opens the run, and reads
// the checkpoint, which it sends to the others (the ranks may be on machines that share no
// folder); all train together, each on its share of every batch; rank 0 alone keeps the
// heartbeat, writes the checkpoints and the metrics, runs the monitor, and marks the run.
func trainWorld(ctx context.Context, cfg *configs.Config, o TrainOptions, rk *ranks, obs Observer) (*TrainResult, error) {
	w := rk.World
	agreed := o.Agreed
	if agreed == "" {
		agreed = trainer.ConfigHash(cfg, w.Size())
	}
	if err := w.Agree("the config (its keys that change the maths)", []byte(agreed)); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	var (
		run   *experiments.Run
		start worldStart
		ckpt  *trainer.Checkpoint
		data  []byte
	)
	if w.Rank() == 0 {
		db, err := experiments.Open(ctx, dbPath(cfg, o.DB))
		if err != nil {
			return nil, err
		}
		defer db.Close()
		resume, err := FindResume(ctx, db, cfg, o.Resume, obs)
		if err != nil {
			return nil, err
		}
		if resume != nil {
			ckpt = resume.Checkpoint
			if d := trainer.MathDiff(ckpt.Header, cfg, w.Size()); len(d) > 0 && !o.Force {
				return nil, &trainer.MismatchError{Path: ckpt.Path, Diffs: d}
			}
			if data, err = os.ReadFile(ckpt.Path); err != nil {
				return nil, fmt.Errorf("train: read checkpoint to send to the ranks: %w", err)
			}
			start.Resumed = ckpt.Path
		}
		if run, err = openRun(ctx, db, cfg, resume, o); err != nil {
			return nil, err
		}
		if err := run.SetTag(ctx, WorldSizeTag, strconv.Itoa(w.Size())); err != nil {
			return nil, err
		}
		start.RunID = run.ID()
		obs.Notice(fmt.Sprintf("%d ranks (%s) × %d device(s) %v: one run; rank 0 writes the tracker and the checkpoints. "+
			"To stop it with a checkpoint, send SIGUSR1 to the launcher (%s)", w.Size(), w.Launcher(), cfg.Replicas(), cfg.Train.Devices, stopHint(w)))
	}
	head, err := json.Marshal(start)
	if err != nil {
		return nil, err
	}
	if head, err = w.Bcast(head); err != nil {
		return nil, fmt.Errorf("train: hear from rank 0: %w", err)
	}
	if err := json.Unmarshal(head, &start); err != nil {
		return nil, fmt.Errorf("train: rank 0's start: %w", err)
	}
	if start.Resumed != "" {
		if data, err = w.Bcast(data); err != nil {
			return nil, fmt.Errorf("train: receive the checkpoint from rank 0: %w", err)
		}
		if w.Rank() != 0 {
			if ckpt, err = trainer.ParseCheckpoint(data, start.Resumed); err != nil {
				return nil, fmt.Errorf("train: the checkpoint rank 0 sent: %w", err)
			}
		}
		data = nil
	}
	if w.Rank() != 0 {
		res, err := trainRun(ctx, cfg, start.RunID, nil, ckpt, o.Force, Discard, rk)
		if res == nil {
			return nil, err
		}
		return &TrainResult{RunID: start.RunID, Result: *res}, err
	}
	stopBeat := keepAlive(ctx, run, heartbeatEvery, obs)
	fin := &finishOnce{run: run}
	stopWatch := fin.watchTeardown(ctx, o.Teardown, w, obs)
	res, err := trainRun(ctx, cfg, run.ID(), run, ckpt, o.Force, obs, rk)
	stopWatch()
	stopBeat()
	return finishRun(ctx, run, res, err, fin, obs)
}

// stopHint says how a stop signal reaches the ranks under this launcher.
func stopHint(w *mpi.World) string {
	if g := w.KillGrace(); g > 0 {
		return fmt.Sprintf("it forwards it at once; SIGTERM or SIGINT reach the ranks %v later and SIGKILL %v after that: raise --mca odls_base_sigkill_timeout to leave a stop time", g, g)
	}
	return "or whatever signal your launcher forwards to every task, e.g. scancel --signal=USR1 --full"
}

// finishOnce marks a run once: by the end of training, or by the teardown watch.
type finishOnce struct {
	run  *experiments.Run
	mu   sync.Mutex
	done bool
}

// claim reports whether the caller is the one to mark the run.
func (f *finishOnce) claim() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return false
	}
	f.done = true
	return true
}

// watchTeardown marks the run FAILED and ends the job when, after teardown is closed (the
// launcher ending the job: SIGTERM or SIGINT under mpirun), training has not stopped within
// half the launcher's kill grace: a rank has died (the others wait for it in a collective)
// or the stop cannot finish before the launcher's SIGKILL. Without a known grace it does
// nothing.
func (f *finishOnce) watchTeardown(ctx context.Context, teardown <-chan struct{}, w *mpi.World, obs Observer) (stop func()) {
	grace := w.KillGrace() / 2
	if teardown == nil || grace <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
			return
		case <-teardown:
		}
		select {
		case <-done:
			return
		case <-time.After(grace):
		}
		if !f.claim() {
			return
		}
		msg := fmt.Sprintf("the launcher (%s) is ending the job and the ranks did not stop within %v: a rank died or was killed, or the stop needs more time than odls_base_sigkill_timeout leaves (%v)", w.Launcher(), grace, w.KillGrace())
		obs.Notice("run " + f.run.ID() + " failed: " + msg)
		_ = f.run.Finish(context.WithoutCancel(ctx), experiments.StatusFailed, msg)
		w.Abort(1)
	}()
	return func() { close(done) }
}

// errWatched is returned when the teardown watch marked the run (unreachable in practice:
// the watch ends the job).
var errWatched = errors.New("train: the run was marked failed while the job was being ended")
