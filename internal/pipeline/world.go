package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/loader"
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

// worldStart is what rank 0 tells the other ranks before training: whether a checkpoint
// follows, and then the run.
type worldStart struct {
	RunID   string `json:"run_id,omitempty"`
	Resumed string `json:"resumed,omitempty"` // the checkpoint's path on rank 0
}

// trainWorld is Train for one rank of an MPI job. All ranks check that they hold the same
// config and each checks its data and its devices; rank 0 alone opens the tracker, finds what to resume and
// reads the checkpoint, which it sends to the others (the ranks may be on machines that share
// no folder); each rank opens its share of the data, rank 0 the monitor's sets too, and only
// when every rank has its inputs does rank 0 create (or reopen) the run, so that an input one
// rank cannot read leaves no run behind. All train together, each on its share of every
// batch; rank 0 alone keeps the heartbeat, writes the checkpoints and the metrics, runs the
// monitor, and marks the run.
func trainWorld(ctx context.Context, cfg *configs.Config, o TrainOptions, rk *ranks, obs Observer) (*TrainResult, error) {
	w := rk.World
	agreed := o.Agreed
	if agreed == "" {
		agreed = trainer.ConfigHash(cfg, w.Size())
	}
	// The steps at which the ranks meet to log and to checkpoint must be the same too.
	agreed += fmt.Sprintf(" train.log_every=%d train.checkpoint_every=%d", cfg.Train.LogEvery, cfg.Train.CheckpointEvery)
	if err := w.Agree("the config (its keys that change the maths, train.log_every and train.checkpoint_every)", []byte(agreed)); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	var (
		db     *experiments.DB
		resume *Resume
		ckpt   *trainer.Checkpoint
		start  worldStart
		raw    []byte
	)
	err := CheckInputs(cfg)
	if err == nil {
		err = checkMemory(cfg, w.Size(), w.LocalSize())
	}
	if err == nil {
		// This rank's devices: [auto] resolved by its local rank, its share of the batch.
		err = checkDevices(cfg, w.Size(), w.LocalRank())
	}
	if err == nil && w.Rank() == 0 {
		db, resume, raw, err = findWorldResume(ctx, cfg, o, w.Size(), obs)
		if db != nil {
			defer db.Close()
		}
	}
	if err := allReady(w, err); err != nil {
		return nil, err
	}
	if resume != nil {
		ckpt, start.Resumed = resume.Checkpoint, resume.Checkpoint.Path
	}
	if err := bcastJSON(w, &start, "hear from rank 0"); err != nil {
		return nil, err
	}
	if start.Resumed != "" {
		if raw, err = w.Bcast(raw); err != nil {
			return nil, fmt.Errorf("train: receive the checkpoint from rank 0: %w", err)
		}
		if w.Rank() != 0 {
			if ckpt, err = trainer.ParseCheckpoint(raw, start.Resumed); err != nil {
				err = fmt.Errorf("train: the checkpoint rank 0 sent: %w", err)
			}
		}
		raw = nil
		if err := allReady(w, err); err != nil {
			return nil, err
		}
	}
	ctx = loader.WithNotify(ctx, obs.Notice)
	data, err := openData(ctx, cfg, ckpt, rk, obs)
	hooks, closeHooks := []trainer.Hook(nil), func() {}
	if err == nil && w.Rank() == 0 {
		hooks, closeHooks, err = firstRankHooks(ctx, cfg, obs)
	}
	if data != nil {
		defer data.Close()
	}
	defer closeHooks()
	if err := allReady(w, err); err != nil {
		return nil, err
	}
	var run *experiments.Run
	if w.Rank() == 0 {
		if run, err = openWorldRun(ctx, db, cfg, resume, o, w, obs); err != nil {
			// The others hear of it as a run without an id, and leave with rank 0.
			_ = bcastJSON(w, &start, "tell the ranks that no run was opened")
			return nil, err
		}
		start.RunID = run.ID()
		obs.Notice(fmt.Sprintf("%d ranks (%s) × %d device(s) %v: one run; rank 0 writes the tracker and the checkpoints. "+
			"To stop it with a checkpoint, send SIGUSR1 to the launcher (%s)", w.Size(), w.Launcher(), cfg.Replicas(), cfg.Train.Devices, stopHint(w)))
	}
	if err := bcastJSON(w, &start, "hear the run from rank 0"); err != nil {
		return nil, err
	}
	if w.Rank() != 0 {
		if start.RunID == "" {
			return nil, errors.New("train: rank 0 could not open the run in the tracker")
		}
		res, err := trainRun(ctx, cfg, data, nil, start.RunID, nil, ckpt, o.Force, Discard, rk)
		if res == nil {
			return nil, err
		}
		return &TrainResult{RunID: start.RunID, Result: *res}, err
	}
	stopBeat := keepAlive(ctx, run, heartbeatEvery, obs)
	fin := &finishOnce{run: run}
	stopWatch := fin.watchTeardown(ctx, o.Teardown, w, obs)
	res, err := trainRun(ctx, cfg, data, hooks, run.ID(), run, ckpt, o.Force, obs, rk)
	stopWatch()
	stopBeat()
	return finishRun(ctx, run, res, err, fin, obs)
}

// findWorldResume is rank 0's part before the data: the tracker, what to resume, and the
// checkpoint's bytes to send to the others.
func findWorldResume(ctx context.Context, cfg *configs.Config, o TrainOptions, size int, obs Observer) (*experiments.DB, *Resume, []byte, error) {
	db, err := experiments.Open(ctx, dbPath(cfg, o.DB))
	if err != nil {
		return nil, nil, nil, err
	}
	resume, err := FindResume(ctx, db, cfg, o.Resume, obs)
	if err != nil || resume == nil {
		return db, nil, nil, err
	}
	ckpt := resume.Checkpoint
	if d := trainer.MathDiff(ckpt.Header, cfg, size); len(d) > 0 && !o.Force {
		return db, nil, nil, &trainer.MismatchError{Path: ckpt.Path, Diffs: d}
	}
	raw, err := os.ReadFile(ckpt.Path)
	if err != nil {
		return db, nil, nil, fmt.Errorf("train: read checkpoint to send to the ranks: %w", err)
	}
	return db, resume, raw, nil
}

// openWorldRun creates or reopens the run on rank 0, tagged with the world's size.
func openWorldRun(ctx context.Context, db *experiments.DB, cfg *configs.Config, resume *Resume, o TrainOptions, w *mpi.World, obs Observer) (*experiments.Run, error) {
	run, err := openRun(ctx, db, cfg, resume, o, obs)
	if err != nil {
		return nil, err
	}
	if err := run.SetTag(ctx, WorldSizeTag, strconv.Itoa(w.Size())); err != nil {
		return nil, err
	}
	return run, nil
}

// allReady joins the ranks at the end of a step before the run exists: every rank says
// whether its part failed (err), and all go on only if none did. It returns this rank's err,
// or the first failed rank's error when this rank did well, so that all leave together and
// rank 0 creates no run for inputs another rank cannot read. A collective every rank reaches,
// where mpi.World.Fail's message would reach rank 0 only in its next collective, after the
// run was created.
func allReady(w *mpi.World, err error) error {
	var mine []byte
	if err != nil {
		mine = []byte(err.Error() + " ") // never empty
	}
	all, gerr := w.AllgatherBytes(mine)
	if gerr != nil {
		return errors.Join(err, fmt.Errorf("train: hear whether the ranks are ready: %w", gerr))
	}
	if err != nil {
		return err
	}
	for r, b := range all {
		if len(b) > 0 {
			return fmt.Errorf("train: rank %d failed: %s", r, strings.TrimSuffix(string(b), " "))
		}
	}
	return nil
}

// bcastJSON sends rank 0's v to every rank, into v. what names the exchange in errors.
func bcastJSON(w *mpi.World, v *worldStart, what string) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if b, err = w.Bcast(b); err != nil {
		return fmt.Errorf("train: %s: %w", what, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("train: rank 0's start: %w", err)
	}
	return nil
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
