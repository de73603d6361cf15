package pipeline

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/loader"
	"github.com/natssl/natssl/mpi"
	"github.com/natssl/natssl/trainer"
)

// TrainOptions say how a training run starts.
type TrainOptions struct {
	DB      string // the tracker database; "" means run.db of the config
	Resume  string // "", "auto", a run reference, or a checkpoint file: see FindResume
	Force   bool   // resume even when the config changes the maths, or the run looks alive
	Command string // recorded with a new run; "" means the process's arguments
	// TakeOver resumes a run even when its heartbeat is fresh, because its process is known
	// to be gone (a SageMaker job restarted on a new instance); Force implies it.
	TakeOver bool
	// Tags are recorded with a new run (a sweep's trial: sweep=<id>, trial=<n>); a resumed run
	// keeps its own.
	Tags map[string]string
	// World is the MPI job this process is one rank of (mpi.Init); nil, or a world of one,
	// trains in this process alone. Every rank calls Train with the same config and options.
	World *mpi.World
	// Teardown, when closed, says that the launcher has begun ending the job (SIGTERM or
	// SIGINT under mpirun, followed by SIGKILL World.KillGrace() later): if training has not
	// stopped within half that time, rank 0 marks the run FAILED and ends the job.
	Teardown <-chan struct{}
	// Agreed is what the ranks check they hold alike before training; "" is the config's
	// keys that change the maths. A SageMaker job's ranks agree on the config its
	// hyperparameters make, before each host points it at its own folders.
	Agreed string
}

// TrainResult is how a tracked training run ended.
type TrainResult struct {
	RunID string
	trainer.Result
}

// heartbeatEvery is how often a training run tells the tracker it is alive.
const heartbeatEvery = 10 * time.Second

// Train trains cfg as a tracked run: it checks the local data, opens the tracker, finds what
// to resume, opens the data and the monitor's sets, creates the run (or reopens the resumed
// one), trains with the heartbeat kept, and marks the run FINISHED, KILLED (ctx cancelled: a
// signal) or FAILED. On a signal it returns the result so far with the error. A resume whose
// config changes the maths is refused with a *trainer.MismatchError before the run is
// touched, unless o.Force; so are a resume of a run that another live process is training
// and a config beyond the machine's memory (both *RequestError), and CUDA devices that cannot
// train (trainer.CheckDevices).
//
// With o.World of several ranks, every rank calls Train and they train one run together:
// see trainWorld.
func Train(ctx context.Context, cfg *configs.Config, o TrainOptions, obs Observer) (*TrainResult, error) {
	obs = orDiscard(obs)
	if rk := newRanks(o.World); rk != nil {
		return trainWorld(ctx, cfg, o, rk, obs)
	}
	if err := CheckInputs(cfg); err != nil {
		return nil, err
	}
	db, err := experiments.Open(ctx, dbPath(cfg, o.DB))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	resume, err := FindResume(ctx, db, cfg, o.Resume, obs)
	if err != nil {
		return nil, err
	}
	var ckpt *trainer.Checkpoint
	if resume != nil && resume.Checkpoint != nil {
		ckpt = resume.Checkpoint
		if d := trainer.MathDiff(ckpt.Header, cfg, 1); len(d) > 0 && !o.Force {
			return nil, &trainer.MismatchError{Path: ckpt.Path, Diffs: d}
		}
	}
	if err := checkMemory(cfg, 1, 1); err != nil {
		return nil, err
	}
	// A GPU that cannot train (no driver, an index out of range, too little memory for the
	// batch) is refused before the run exists.
	if err := checkDevices(cfg, 1, 0); err != nil {
		return nil, err
	}
	// The data and the monitor's sets are opened before the run is created: an input that
	// cannot be read is refused without leaving a FAILED run behind. S3 retries and
	// recoveries are told as they happen.
	ctx = loader.WithNotify(ctx, obs.Notice)
	data, err := openData(ctx, cfg, ckpt, nil, obs)
	if err != nil {
		return nil, err
	}
	defer data.Close()
	hooks, closeHooks, err := firstRankHooks(ctx, cfg, obs)
	if err != nil {
		return nil, err
	}
	defer closeHooks()
	run, err := openRun(ctx, db, cfg, resume, o, obs)
	if err != nil {
		if run != nil { // claimed, then its record could not be set right
			err = joinLine(err, run.Finish(context.WithoutCancel(ctx), experiments.StatusFailed, err.Error()))
		}
		return nil, err
	}
	if resume != nil && resume.RunID != "" {
		// A run that spanned several processes goes on in one: its record says so.
		if tags, err := db.Tags(ctx, run.ID()); err == nil && tags[WorldSizeTag] != "" {
			if err := run.SetTag(ctx, WorldSizeTag, "1"); err != nil {
				return nil, err
			}
		}
	}
	stopBeat := keepAlive(ctx, run, heartbeatEvery, obs)
	res, err := trainRun(ctx, cfg, data, hooks, run.ID(), run, ckpt, o.Force, obs, nil)
	stopBeat()
	return finishRun(ctx, run, res, err, nil, obs)
}

// finishRun marks the run after training: FINISHED, KILLED (stopped by a signal) or FAILED,
// unless fin says the teardown watch has marked it already.
func finishRun(ctx context.Context, run *experiments.Run, res *trainer.Result, err error, fin *finishOnce, obs Observer) (*TrainResult, error) {
	status, msg := experiments.StatusFinished, ""
	switch {
	case err != nil && res != nil && (ctx.Err() != nil || errors.Is(err, trainer.ErrStopped)):
		status, msg = experiments.StatusKilled, fmt.Sprintf("stopped by a signal at step %d", res.Step)
	case err != nil:
		status, msg = experiments.StatusFailed, err.Error()
	}
	if fin != nil && !fin.claim() {
		return nil, joinLine(err, errWatched)
	}
	err = joinLine(err, run.Finish(context.WithoutCancel(ctx), status, msg))
	if err != nil && status != experiments.StatusFinished {
		err = fmt.Errorf("train: run %s %s: %w", run.ID(), strings.ToLower(string(status)), err)
	}
	out := &TrainResult{RunID: run.ID()}
	if res != nil {
		out.Result = *res
	}
	obs.RunFinished(RunEnd{RunID: run.ID(), Status: string(status), Result: res, Err: err})
	if res == nil {
		return nil, err
	}
	return out, err
}

// openRun creates the run in the tracker, with the options' command and tags, or claims the
// resumed one for this process: a run another live process still writes is refused (a
// *RequestError naming its host and process) unless o.Force. A run taken up without a
// checkpoint starts its record again; a resumed one forgets the checkpoints whose files are
// gone.
func openRun(ctx context.Context, db *experiments.DB, cfg *configs.Config, resume *Resume, o TrainOptions, obs Observer) (*experiments.Run, error) {
	yaml, err := cfg.YAML()
	if err != nil {
		return nil, err
	}
	spec := experiments.RunSpec{Name: cfg.Run.Name, ConfigYAML: string(yaml),
		Command: commandLine(o.Command), Seed: cfg.Run.Seed, Params: cfg.Flatten(), Tags: o.Tags}
	if resume == nil || resume.RunID == "" {
		return db.CreateRun(ctx, spec)
	}
	if o.Force {
		if ow, err := db.Owner(ctx, resume.RunID); err == nil && db.Busy(ow) {
			obs.Notice(fmt.Sprintf("--resume-force: taking over run %s from process %d on host %s, whose heartbeat is fresh", resume.RunID, ow.PID, ow.Host))
		}
	}
	run, err := db.ClaimRun(ctx, resume.RunID, o.Force || o.TakeOver)
	var busy *experiments.BusyError
	if errors.As(err, &busy) {
		return nil, &RequestError{Err: fmt.Errorf("train: resume: %w", err)}
	}
	if err != nil {
		return nil, err
	}
	if resume.Checkpoint == nil {
		return run, run.Restart(ctx, spec)
	}
	gone, err := run.ForgetMissingCheckpoints(ctx)
	if len(gone) > 0 {
		obs.Notice(fmt.Sprintf("run %s: forgot %d recorded checkpoint(s) whose files are gone (%s)", resume.RunID, len(gone), strings.Join(gone, ", ")))
	}
	if err != nil {
		return run, err
	}
	step := resume.Checkpoint.Header.Step
	n, err := run.Rewind(ctx, step)
	if n > 0 {
		obs.Notice(fmt.Sprintf("run %s: forgot %d metric value(s) logged after step %d, where it continues: the stopped process had gone further than its last checkpoint", resume.RunID, n, step))
	}
	return run, err
}

// trainRun runs the trainer on data, with hooks, for an open run; tracker is where its metrics
// and checkpoints are recorded (nil on ranks other than 0, which have no hooks either). rk is
// the MPI job (nil: this process alone).
func trainRun(ctx context.Context, cfg *configs.Config, data *trainData, hooks []trainer.Hook, runID string, tracker trainer.Tracker, resume *trainer.Checkpoint, force bool, obs Observer, rk *ranks) (*trainer.Result, error) {
	dir := filepath.Join(cfg.Run.OutDir, runID, "checkpoints")
	start := RunStart{RunID: runID, Config: cfg, TotalSteps: data.total, CheckpointDir: dir, Resumed: resume, Ranks: 1}
	opt := trainer.Options{
		Config: cfg, Source: data, Tracker: tracker, RunID: runID, CheckpointDir: dir,
		TotalSteps: data.total, Resume: resume, Force: force, OnStep: obs.Step, Log: &noticeWriter{obs: obs},
		Hooks: hooks,
	}
	if rk != nil {
		opt.Ranks, start.Ranks = *rk, rk.Size()
	}
	obs.RunStarted(start)
	return trainer.Train(ctx, opt)
}

// firstRankHooks are the hooks of the process that records the run: the online monitor. The
// replicas of a process share one model, which the monitor snapshots once per monitor step;
// when a run spans processes, only the first (rank 0, the one that writes the tracker and the
// checkpoints) installs them, the others wait for it in the next step's collectives.
func firstRankHooks(ctx context.Context, cfg *configs.Config, obs Observer) ([]trainer.Hook, func(), error) {
	mon, err := newMonitor(ctx, cfg, obs)
	if err != nil || mon == nil {
		return nil, func() {}, err
	}
	return []trainer.Hook{mon.hook()}, mon.close, nil
}

// keepAlive keeps the run's heartbeat until stop is called: the tracker's KeepAlive beats from
// a goroutine of its own, so that a long step or a slow disk never shows a live run as stale.
// A failed beat never stops training (a busy database or a network file system that hangs
// for a minute must not end a week-long run): it is reported once, retried at every tick,
// and its recovery reported.
func keepAlive(ctx context.Context, run *experiments.Run, every time.Duration, obs Observer) (stop func()) {
	failed := 0
	return run.KeepAlive(context.WithoutCancel(ctx), every, func(err error) {
		switch {
		case err != nil && failed == 0:
			obs.Notice(fmt.Sprintf("heartbeat of run %s failed; training goes on and the beat is retried every %s: %v", run.ID(), every, err))
		case err == nil && failed > 0:
			obs.Notice(fmt.Sprintf("heartbeat of run %s is back after %d failed beats", run.ID(), failed))
		}
		if err != nil {
			failed++
		} else {
			failed = 0
		}
	})
}

// checkDevices refuses, before the run is recorded or any data opened, GPUs that cannot train
// cfg (trainer.CheckRankDevices for the process of local rank localRank of size ranks): a
// refusal of the request, as the memory's.
func checkDevices(cfg *configs.Config, size, localRank int) error {
	if err := trainer.CheckRankDevices(cfg, size, localRank); err != nil {
		return &RequestError{Err: fmt.Errorf("train: %w", err)}
	}
	return nil
}

// checkMemory refuses, before the run is recorded or any data opened, a config whose model and
// batch would not fit in this machine's memory (trainer.CheckRankMemory: localSize of the
// size ranks share it): a refusal of the request, with the estimate and the machine's memory.
func checkMemory(cfg *configs.Config, size, localSize int) error {
	if err := trainer.CheckRankMemory(cfg, size, localSize); err != nil {
		return &RequestError{Err: fmt.Errorf("train: %w", err)}
	}
	return nil
}
