package cli

import (
	"context"
	"errors"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/natssl/natssl/internal/pipeline"
)

func newSweepCmd(e *env) *cobra.Command {
	return leaf("sweep --param KEY=V1,V2,... [--param ...] [--random N] [--seeds S] [--budget D] [--parallel K] | --resume SWEEP_ID",
		"Search a recipe over config keys: every trial a tracked run, judged on the validation suite",
		`natssl sweep trains one run per trial of a grid (every combination of the listed values) or
of a random search (--random N configurations, each key drawn from its list or range), each
configuration --seeds times (run.seed, run.seed+1, ...), and scores every trial's final checkpoint
on the validation suite (eval.val_csv, eval.val_images) with the NeWT probe: never on the
evaluation suite, which stays for judging the recipe the sweep picks.

--param takes any key --set accepts:
  train.temperature=0.1,0.2,0.5                listed values
  augment.crop_scale=[0.08,1],[0.2,1]          list values, in brackets
  train.lr=log:0.0003..0.01                    a log-uniform range (random search; also LO..HI)
  data.batch_size+train.steps=128/900,256/450  tied keys: one value each, split by /
Every value and every trial's config are validated before anything runs; all problems are
reported at once. --budget sets train.time_limit of every trial (a trial ends at its last step
or its budget, whichever comes first).

Each trial runs as a child natssl process, its output in <run.out_dir>/sweeps/<id>/trial-NNN.log,
its run tagged sweep=<id> and trial=<n>. --parallel K runs K at once, each pinned to 1/K of the
cores (its BLAS threads, loader and probe workers follow); train.devices is left as configured.
The sweep is stored in the tracker: --resume SWEEP_ID (a prefix is enough) skips finished
trials, continues interrupted ones from their checkpoints within what is left of their budget,
and runs failed ones again. natssl report --sweep SWEEP_ID shows the trials.`,
		(*sweepOptions).flags, func(cmd *cobra.Command, o *sweepOptions) error {
			if err := o.check(cmd.Flags()); err != nil {
				return usageErr(err)
			}
			return e.runSweep(cmd.Context(), *o)
		})
}

// sweepOptions are the flags of `natssl sweep`.
type sweepOptions struct {
	pipeline.SweepOptions
	JSON bool
	// RunTrial runs trial N of the --resume sweep in this process: what the sweep's child
	// processes run.
	RunTrial int
}

func (o *sweepOptions) flags(f *pflag.FlagSet) {
	f.StringArrayVar(&o.Params, "param", nil, "a swept key and its values, KEY=V1,V2,... or KEY=[log:]LO..HI (repeatable)")
	f.IntVar(&o.Random, "random", 0, "draw N configurations at random instead of running the whole grid")
	f.IntVar(&o.Seeds, "seeds", 1, "runs of each configuration, with run.seed, run.seed+1, ...")
	f.DurationVar(&o.Budget, "budget", 0, "train.time_limit of every trial, e.g. 10m (default: the config's)")
	f.IntVar(&o.Parallel, "parallel", 0, "trials at once, each on its share of the cores (default 1, or the sweep's own on --resume)")
	f.StringVar(&o.Resume, "resume", "", "continue sweep SWEEP_ID (or a prefix): skip finished trials, continue or rerun the others")
	f.BoolVar(&o.DryRun, "dry-run", false, "check the design and list its trials without running or storing anything")
	f.BoolVar(&o.JSON, "json", false, "print the sweep's id and best trial as one JSON object on the last line of stdout")
	f.IntVar(&o.RunTrial, "run-trial", 0, "run trial N of the --resume sweep in this process (what the sweep's child processes run)")
	_ = f.MarkHidden("run-trial")
}

// check refuses flags that do not go together.
func (o *sweepOptions) check(f *pflag.FlagSet) error {
	design := len(o.Params) > 0 || f.Changed("random") || f.Changed("seeds") || f.Changed("budget")
	switch {
	case o.Resume != "" && design:
		return errors.New("sweep: --resume continues a stored sweep as it was designed: it takes no --param, --random, --seeds or --budget")
	case o.Resume == "" && len(o.Params) == 0:
		return errors.New("sweep: nothing to sweep: give --param KEY=V1,V2,... (repeatable), or --resume SWEEP_ID")
	case o.RunTrial > 0 && o.Resume == "":
		return errors.New("sweep: --run-trial needs --resume SWEEP_ID")
	case o.DryRun && o.Resume != "":
		return errors.New("sweep: --dry-run checks a new design; it takes no --resume")
	case o.Parallel < 0 || o.Seeds < 1 || o.Random < 0:
		return errors.New("sweep: --parallel, --seeds and --random want positive numbers")
	}
	return nil
}

func (e *env) runSweep(ctx context.Context, o sweepOptions) error {
	// The first signal stops the sweep (its trials checkpoint); a second exits at once.
	obs := newConsole(e.Stderr)
	stopSecond := exitOnSecondSignal(obs.Notice)
	defer stopSecond()
	o.DB, o.Config, o.Command = e.Global.DB, e.sources(), commandLine()
	if o.RunTrial > 0 {
		return pipeline.RunSweepTrial(ctx, pipeline.SweepTrialOptions{DB: o.DB, Sweep: o.Resume, Trial: o.RunTrial, Command: o.Command}, obs)
	}
	o.TrialArgs = func(db, id string, n int) []string {
		return []string{"sweep", "--resume", id, "--run-trial", strconv.Itoa(n), "--db", db}
	}
	res, err := pipeline.RunSweep(ctx, o.SweepOptions, obs)
	switch {
	case err == nil && o.DryRun:
		return printPlan(e.Stdout, res.Plan)
	case o.JSON && res != nil && res.Result != nil:
		return errors.Join(err, printSweepJSON(e.Stdout, res))
	}
	return err
}
