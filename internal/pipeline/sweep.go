package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/sweep"
	"github.com/natssl/natssl/trainer"
)

// SweepOptions say what a sweep searches (a new design), or which stored sweep to continue.
type SweepOptions struct {
	DB string // the tracker database; "" means run.db of the config
	// Config is the base config's layers: every trial starts from it. On Resume only run.db
	// is read from it (the sweep keeps its own config).
	Config configs.Sources
	// A new design: the --param arguments, the configurations drawn at random (0: the whole
	// grid), the runs of each configuration, and every trial's train.time_limit (0: the
	// config's).
	Params []string
	Random int
	Seeds  int
	Budget time.Duration
	// Resume is a stored sweep's id or unique prefix, continued instead of a new design.
	Resume   string
	Parallel int  // trials at once; 0: one, or on Resume the number the sweep was started with
	DryRun   bool // check the design and return its plan: nothing runs and nothing is stored
	Command  string
	// TrialArgs are the arguments that make this program run trial n of sweep id, recorded
	// in tracker db, in-process (RunSweepTrial): each trial runs in a child process of its own.
	TrialArgs func(db, id string, n int) []string
}

// SweepResult is where a sweep stands after RunSweep; Plan alone on a dry run.
type SweepResult struct {
	Plan  *sweep.Plan
	Sweep *sweep.Sweep
	*sweep.Result
}

// RunSweep checks a new design whole and stores it in the tracker (or opens the stored sweep
// o.Resume), then runs the trials that need work, o.Parallel at a time, each in a child
// process pinned to its share of the cores, reporting progress as notices. A design that cannot
// run as given is refused with a *RequestError or *configs.Errors before anything is stored.
func RunSweep(ctx context.Context, o SweepOptions, obs Observer) (*SweepResult, error) {
	obs = orDiscard(obs)
	out := &SweepResult{}
	db, err := openSweep(ctx, o, out, obs)
	if err != nil || out.Sweep == nil {
		return out, asRequest(err)
	}
	defer db.Close()
	parallel := o.Parallel
	if parallel == 0 && o.Resume != "" {
		parallel = out.Sweep.Spec.Parallel
	}
	parallel = max(parallel, 1)
	cpus, err := sweep.SplitCPUs(parallel)
	if err != nil {
		return out, asRequest(err)
	}
	path := db.Path()
	launcher := &sweep.Exec{CPUs: cpus, Args: func(s *sweep.Sweep, n int) []string { return o.TrialArgs(path, s.ID, n) }}
	out.Result, err = sweep.Run(ctx, db, out.Sweep, sweep.RunOptions{Parallel: parallel, Launcher: launcher, Progress: &noticeWriter{obs: obs}})
	return out, err
}

// openSweep opens the tracker and the sweep o names, or checks o's design and, unless it is a
// dry run, stores it as a new sweep; out gets the plan and the sweep.
func openSweep(ctx context.Context, o SweepOptions, out *SweepResult, obs Observer) (*experiments.DB, error) {
	if o.Resume != "" {
		cfg, err := configs.Load(o.Config)
		if err != nil {
			return nil, err
		}
		db, err := experiments.OpenExisting(ctx, dbPath(cfg, o.DB))
		if err != nil {
			return nil, err
		}
		if out.Sweep, err = sweep.Open(ctx, db, o.Resume); err != nil {
			db.Close()
			return nil, err
		}
		return db, nil
	}
	params, err := sweep.ParseParams(o.Params)
	if err != nil {
		return nil, err
	}
	plan, err := sweep.NewPlan(o.Config, sweep.Design{Params: params, Random: o.Random, Seeds: o.Seeds, Budget: o.Budget})
	if err != nil {
		return nil, err
	}
	if _, err := sweep.SplitCPUs(max(o.Parallel, 1)); err != nil {
		return nil, err
	}
	if err := checkTrialMonitor(ctx, plan.Base, obs); err != nil {
		return nil, err
	}
	out.Plan = plan
	if o.DryRun {
		return nil, nil
	}
	db, err := experiments.Open(ctx, dbPath(plan.Base, o.DB))
	if err != nil {
		return nil, err
	}
	if out.Sweep, err = sweep.Create(ctx, db, plan, commandLine(o.Command), max(o.Parallel, 1)); err != nil {
		db.Close()
		return nil, err
	}
	obs.Notice(fmt.Sprintf("sweep %s created in %s", out.Sweep.ID, db.Path()))
	return db, nil
}

// checkTrialMonitor reads the online monitor's sets of the base config once, as each trial
// reads them before it trains, so that a set that is missing refuses the sweep before anything
// is stored rather than failing every trial; and it tells what the trials are watched on.
func checkTrialMonitor(ctx context.Context, cfg *configs.Config, obs Observer) error {
	m, err := newMonitor(ctx, cfg, trialNotices{obs})
	m.close()
	return err
}

// trialNotices says that the notices it passes on are about every trial.
type trialNotices struct{ Observer }

func (o trialNotices) Notice(msg string) { o.Observer.Notice("trials: " + msg) }

// asRequest makes a sweep's refusal of a design (*sweep.UsageError) a *RequestError.
func asRequest(err error) error {
	var ue *sweep.UsageError
	if errors.As(err, &ue) {
		return &RequestError{Err: err}
	}
	return err
}

// SweepTrialOptions name one trial of a stored sweep.
type SweepTrialOptions struct {
	DB      string // the sweep's tracker database
	Sweep   string // the sweep's id or unique prefix
	Trial   int    // from 1
	Command string // recorded with the trial's run
}

// RunSweepTrial does what one trial still needs, in this process (a sweep's child): trains
// it as a tracked run tagged sweep=<id> and trial=<n> with Train (continuing its interrupted
// run within what is left of its budget), then scores the run's latest checkpoint on the
// validation suite with Evaluate, recorded as suite val. A trial whose loss stopped being
// finite is marked diverged and ends without an error.
//
// The online monitor, when the config has it, watches the trial as it watches any run (on the
// validation suite: see sweep.NewPlan), outside the budget's clock. Its last NeWT score is of
// the same model as the latest checkpoint, but it is not the trial's score: it keeps the mean
// of a few tasks only, without the per-image outcomes that the sweep report's intervals and
// paired differences need, and a monitor that fails lets training go on without it. The probe
// after training is the one natssl eval runs, on every task of the suite, whether or not the
// monitor is on; it costs what a last monitor on every task would.
func RunSweepTrial(ctx context.Context, o SweepTrialOptions, obs Observer) error {
	obs = orDiscard(obs)
	if o.DB == "" {
		return refuse("sweep: a trial needs the sweep's tracker (--db)")
	}
	db, err := experiments.OpenExisting(ctx, o.DB)
	if err != nil {
		return err
	}
	defer db.Close()
	s, err := sweep.Open(ctx, db, o.Sweep)
	if err != nil {
		return err
	}
	w := &trialWorker{db: o.DB, command: o.Command, obs: obs}
	return sweep.RunTrial(ctx, db, s, o.Trial, w, &noticeWriter{obs: obs})
}

// trialWorker trains and scores a sweep's trial as natssl train and natssl eval do.
type trialWorker struct {
	db, command string
	obs         Observer
}

var _ sweep.Worker = (*trialWorker)(nil)

func (w *trialWorker) Train(ctx context.Context, cfg *configs.Config, resume string, tags map[string]string) error {
	_, err := Train(ctx, cfg, TrainOptions{DB: w.db, Resume: resume, Command: w.command, Tags: tags}, w.obs)
	if errors.Is(err, trainer.ErrNonFinite) {
		return fmt.Errorf("%w: %w", sweep.ErrDiverged, err)
	}
	return err
}

func (w *trialWorker) Validate(ctx context.Context, cfg *configs.Config, runID string) error {
	res, err := Evaluate(ctx, cfg, EvalOptions{DB: w.db, Run: runID, Suite: experiments.SuiteValidation, Command: w.command}, w.obs)
	if err != nil {
		return err
	}
	w.obs.Notice(fmt.Sprintf("validation suite %s: run %s at step %d: mean accuracy %.4f over %d tasks",
		cfg.Eval.ValCSV, res.RunID, res.CheckpointStep, res.Mean, len(res.Tasks)))
	return nil
}
