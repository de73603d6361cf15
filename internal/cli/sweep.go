package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/probe"
	"github.com/natssl/natssl/sweep"
	"github.com/natssl/natssl/trainer"
)

func init() { addCommand(newSweepCmd) }

// sweepOptions are the flags of `natssl sweep`.
type sweepOptions struct {
	Params   []string
	Random   int
	Seeds    int
	Budget   time.Duration
	Parallel int
	Resume   string
	DryRun   bool
	JSON     bool
	// RunTrial runs trial N of the --resume sweep in this process: what the sweep's child
	// processes run.
	RunTrial int
}

func newSweepCmd(e *env) *cobra.Command {
	var o sweepOptions
	cmd := &cobra.Command{
		Use:   "sweep --param KEY=V1,V2,... [--param ...] [--random N] [--seeds S] [--budget D] [--parallel K] | --resume SWEEP_ID",
		Short: "Search a recipe over config keys: every trial a tracked run, judged on the validation suite",
		Long: `natssl sweep trains one run per trial of a grid (every combination of the listed values) or
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
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(cmd); err != nil {
				return usageErr(err)
			}
			// The first signal stops the sweep (its trials checkpoint); a second exits at once.
			stopSecond := exitOnSecondSignal(e.Stderr)
			defer stopSecond()
			var err error
			if o.RunTrial > 0 {
				err = runSweepTrial(cmd.Context(), e, o)
			} else {
				err = runSweep(cmd.Context(), e, o)
			}
			if ue := (*sweep.UsageError)(nil); errors.As(err, &ue) {
				return usageErr(err)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.Params, "param", nil, "a swept key and its values, KEY=V1,V2,... or KEY=[log:]LO..HI (repeatable)")
	f.IntVar(&o.Random, "random", 0, "draw N configurations at random instead of running the whole grid")
	f.IntVar(&o.Seeds, "seeds", 1, "runs of each configuration, with run.seed, run.seed+1, ...")
	f.DurationVar(&o.Budget, "budget", 0, "train.time_limit of every trial, e.g. 10m (default: the config's)")
	f.IntVar(&o.Parallel, "parallel", 0, "trials at once, each on its share of the cores (default 1, or the sweep's own on --resume)")
	f.StringVar(&o.Resume, "resume", "", "continue sweep SWEEP_ID (or a prefix): skip finished trials, continue or rerun the others")
	f.BoolVar(&o.DryRun, "dry-run", false, "check the design and list its trials without running or storing anything")
	f.BoolVar(&o.JSON, "json", false, "print the sweep's id and best trial as one JSON object on the last line of stdout")
	f.IntVar(&o.RunTrial, "run-trial", 0, "run trial N of the --resume sweep in this process (what the sweep's child processes run)")
	f.MarkHidden("run-trial")
	return cmd
}

func (o *sweepOptions) validate(cmd *cobra.Command) error {
	design := len(o.Params) > 0 || cmd.Flags().Changed("random") || cmd.Flags().Changed("seeds") || cmd.Flags().Changed("budget")
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

func runSweep(ctx context.Context, e *env, o sweepOptions) error {
	var (
		s  *sweep.Sweep
		db *experiments.DB
	)
	if o.Resume == "" {
		var design sweep.Design
		var perrs []string
		for _, raw := range o.Params {
			p, err := sweep.ParseParam(raw)
			if err != nil {
				perrs = append(perrs, err.Error())
				continue
			}
			design.Params = append(design.Params, p)
		}
		if len(perrs) > 0 {
			return usageErr(errors.New("sweep: " + strings.Join(perrs, "\nsweep: ")))
		}
		design.Random, design.Seeds, design.Budget = o.Random, o.Seeds, o.Budget
		plan, err := sweep.NewPlan(configs.Sources{File: e.Global.ConfigFile, Hyperparameters: e.Hyperparameters,
			HyperparametersFile: e.HyperparametersFile, Sets: e.Global.Sets}, design)
		if err != nil {
			return err
		}
		if _, err := sweep.SplitCPUs(max(o.Parallel, 1)); err != nil {
			return err
		}
		if o.DryRun {
			return printPlan(e, plan)
		}
		if db, err = experiments.Open(ctx, e.dbPath(plan.Base)); err != nil {
			return err
		}
		defer db.Close()
		if s, err = sweep.Create(ctx, db, plan, commandLine(), max(o.Parallel, 1)); err != nil {
			return err
		}
		fmt.Fprintf(e.Stderr, "natssl: sweep %s created in %s\n", s.ID, db.Path())
	} else {
		cfg, err := e.loadConfig()
		if err != nil {
			return err
		}
		if db, err = experiments.OpenExisting(ctx, e.dbPath(cfg)); err != nil {
			return err
		}
		defer db.Close()
		if s, err = sweep.Open(ctx, db, o.Resume); err != nil {
			return err
		}
		if o.Parallel == 0 {
			o.Parallel = s.Spec.Parallel
		}
	}
	parallel := max(o.Parallel, 1)
	cpus, err := sweep.SplitCPUs(parallel)
	if err != nil {
		return err
	}
	dbPath := db.Path()
	launcher := &sweep.Exec{CPUs: cpus, Args: func(s *sweep.Sweep, n int) []string {
		return []string{"sweep", "--resume", s.ID, "--run-trial", strconv.Itoa(n), "--db", dbPath}
	}}
	res, err := sweep.Run(ctx, db, s, sweep.RunOptions{Parallel: parallel, Launcher: launcher, Progress: e.Stderr})
	if o.JSON && res != nil {
		if jerr := printSweepJSON(e, s, res); jerr != nil {
			return errors.Join(err, jerr)
		}
	}
	return err
}

// printPlan lists a checked design's trials (--dry-run).
func printPlan(e *env, p *sweep.Plan) error {
	budget := "no time limit"
	if b := p.Base.Train.TimeLimit.D(); b > 0 {
		budget = b.String() + " per trial"
	}
	fmt.Fprintf(e.Stdout, "%s; %s; judged on %s\n", p.Describe(), budget, p.Base.Eval.ValCSV)
	tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "trial\tconfig\tseed\t%s\n", strings.Join(p.Keys, "\t"))
	for _, t := range p.Trials {
		vals := make([]string, len(t.Values))
		for i, kv := range t.Values {
			vals[i] = kv.Value
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\n", t.N, t.Config, t.Seed, strings.Join(vals, "\t"))
	}
	return tw.Flush()
}

func printSweepJSON(e *env, s *sweep.Sweep, res *sweep.Result) error {
	out := struct {
		SweepID    string            `json:"sweep_id"`
		Trials     int               `json:"trials"`
		Finished   int               `json:"finished"`
		Failed     []int             `json:"failed"`
		BestTrial  int               `json:"best_trial,omitempty"`
		BestRunID  string            `json:"best_run_id,omitempty"`
		BestScore  float64           `json:"best_validation,omitempty"`
		BestValues map[string]string `json:"best_values,omitempty"`
	}{SweepID: s.ID, Trials: len(s.Trials), Failed: res.Failed}
	for _, st := range res.Status {
		if st.State.Finished() {
			out.Finished++
		}
	}
	if b := res.Best; b != nil {
		out.BestTrial, out.BestRunID, out.BestScore = b.N, b.Run.ID, b.Score.Mean
		out.BestValues = map[string]string{}
		for _, kv := range b.Values {
			out.BestValues[kv.Key] = kv.Value
		}
	}
	bs, err := json.Marshal(out)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.Stdout, string(bs))
	return nil
}

// runSweepTrial runs one trial in this process (a sweep's child).
func runSweepTrial(ctx context.Context, e *env, o sweepOptions) error {
	if e.Global.DB == "" {
		return usageErr(errors.New("sweep: --run-trial needs --db, the sweep's tracker"))
	}
	db, err := experiments.OpenExisting(ctx, e.Global.DB)
	if err != nil {
		return err
	}
	defer db.Close()
	s, err := sweep.Open(ctx, db, o.Resume)
	if err != nil {
		return err
	}
	return sweep.RunTrial(ctx, db, s, o.RunTrial, &sweepWorker{e: e, db: db}, e.Stderr)
}

// sweepWorker trains and scores a sweep's trial as natssl train and natssl eval would.
type sweepWorker struct {
	e  *env
	db *experiments.DB
}

var _ sweep.Worker = (*sweepWorker)(nil)

func (w *sweepWorker) Train(ctx context.Context, cfg *configs.Config, resume string, tags map[string]string) error {
	_, err := w.e.runTraining(ctx, cfg, TrainRun{Resume: resume, Tags: tags, Command: commandLine()})
	if errors.Is(err, trainer.ErrNonFinite) {
		return fmt.Errorf("%w: %w", sweep.ErrDiverged, err)
	}
	return err
}

// Validate scores the run's newest checkpoint on the validation suite and records it as suite
// val, with every test image's outcome (for the report's intervals).
func (w *sweepWorker) Validate(ctx context.Context, cfg *configs.Config, runID string) error {
	kind, err := probe.ParseClassifier(cfg.Eval.Classifier)
	if err != nil {
		return err
	}
	suite, images, err := loadSuite(ctx, w.e, cfg.Eval.ValCSV, cfg.Eval.ValImagesPath(), false)
	if err != nil {
		return err
	}
	target, err := openTarget(ctx, w.db, cfg, evalOptions{Run: runID})
	if err != nil {
		return err
	}
	feats, err := extractFeatures(ctx, w.e, cfg, target.enc, suite, images, 0)
	if err != nil {
		return err
	}
	res, err := probe.Evaluate(ctx, suite, feats, probe.Options{Classifier: kind})
	if err != nil {
		return err
	}
	rows, outcomes := evalRows(res, target.step), evalOutcomes(res, target.step)
	for i := range rows {
		rows[i].Suite = experiments.SuiteValidation
	}
	for i := range outcomes {
		outcomes[i].Suite = experiments.SuiteValidation
	}
	if err := w.db.RecordEvaluation(ctx, runID, rows, outcomes); err != nil {
		return err
	}
	fmt.Fprintf(w.e.Stderr, "validation suite %s, run %s at step %d:\n", cfg.Eval.ValCSV, runID, target.step)
	return res.WriteTable(w.e.Stderr)
}
