package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/report"
	"github.com/natssl/natssl/sweep"
)

func init() { addCommand(newReportCmd) }

// reportOptions are the flags of `natssl report`.
type reportOptions struct {
	Out      string
	Format   string
	All      bool
	Name     string
	Baseline string
	Full     bool
	Sweep    string
}

func newReportCmd(e *env) *cobra.Command {
	var opt reportOptions
	cmd := &cobra.Command{
		Use:   "report [RUN_ID...]",
		Short: "Compare runs: metadata, config differences, training metrics, NeWT results and plots, as Markdown and HTML",
		Long: `report compares runs of the experiment tracker against a baseline (the first run, or
--baseline): run metadata, the config keys that differ (--full for all), final and best training
metrics, NeWT accuracy overall, per cluster and subcluster with tasks won and lost, the largest
per-task gains and losses, checkpoints, and plots of loss, images/s and NeWT results.

Each NeWT number has a 95% interval (per task Wilson; means by a seeded bootstrap over the
test images within tasks), each run is compared with the baseline in one sentence (the paired
difference with its interval, tasks won, the sign test's p), and runs that differ only in
run.seed are grouped as mean ± sd over seeds. Evaluations recorded before natssl kept per-image
outcomes are shown without intervals, and marked.

Runs are given by id (a unique prefix is enough), --all, or --name PATTERN (a glob).
Without --out the report is printed to stdout (Markdown by default, or --format html).
With --out DIR it writes DIR/report.md with the SVG plots beside it and DIR/report.html, a
single self-contained page (--format md|html|both, default both).

--sweep SWEEP_ID reports a sweep instead: one row per trial (the swept keys, status, steps,
time, validation score with its 95% interval and its paired difference to the best trial),
the best trial marked, each configuration over its seeds, and the score against each swept key.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opt.validate(args, cmd.Flags().Changed("format")); err != nil {
				return usageErr(err)
			}
			db, err := e.openTracker(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			if opt.Sweep != "" {
				return runSweepReport(cmd.Context(), db, opt, e.Stdout)
			}
			return runReport(cmd.Context(), db, args, opt, e.Stdout)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opt.Out, "out", "", "write report.md, report.html and the SVG plots into this directory")
	f.StringVar(&opt.Format, "format", "", "md, html or both (default: both with --out, md on stdout)")
	f.BoolVar(&opt.All, "all", false, "compare every run in the tracker")
	f.StringVar(&opt.Name, "name", "", "compare the runs whose name matches this glob pattern")
	f.StringVar(&opt.Baseline, "baseline", "", "the run the others are compared with (default: the first)")
	f.BoolVar(&opt.Full, "full", false, "show every config key, not only those that differ")
	f.StringVar(&opt.Sweep, "sweep", "", "report the trials of sweep SWEEP_ID (or a prefix) instead of runs")
	return cmd
}

func (o *reportOptions) validate(args []string, formatSet bool) error {
	switch {
	case o.Sweep != "" && (len(args) > 0 || o.All || o.Name != "" || o.Baseline != ""):
		return errors.New("report: --sweep reports one sweep's trials; it takes no RUN_ID, --all, --name or --baseline")
	case o.Sweep == "" && len(args) == 0 && !o.All && o.Name == "":
		return errors.New("report: no runs given: pass RUN_ID..., --all, --name PATTERN or --sweep SWEEP_ID")
	}
	if !formatSet {
		o.Format = string(report.FormatMarkdown)
		if o.Out != "" {
			o.Format = string(report.FormatBoth)
		}
	}
	f, err := report.ParseFormat(o.Format)
	if err != nil {
		return err
	}
	if f == report.FormatBoth && o.Out == "" {
		return errors.New("report: --format both needs --out DIR")
	}
	return nil
}

func runReport(ctx context.Context, db *experiments.DB, args []string, opt reportOptions, stdout io.Writer) error {
	var ids []string
	for _, a := range args {
		id, err := db.ResolveRun(ctx, a)
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	if opt.All || opt.Name != "" {
		runs, err := db.ListRuns(ctx, experiments.ListOptions{Name: opt.Name})
		if err != nil {
			return err
		}
		if len(runs) == 0 {
			if opt.Name != "" {
				return fmt.Errorf("report: no run in %s has a name matching %q", db.Path(), opt.Name)
			}
			return fmt.Errorf("report: no runs in %s", db.Path())
		}
		for _, r := range runs {
			ids = append(ids, r.ID)
		}
	}
	var baseline string
	if opt.Baseline != "" {
		id, err := db.ResolveRun(ctx, opt.Baseline)
		if err != nil {
			return err
		}
		baseline = id
	}
	rep, err := report.Build(ctx, db, ids, report.Options{Baseline: baseline, Full: opt.Full})
	if err != nil {
		return err
	}
	format, _ := report.ParseFormat(opt.Format)
	if opt.Out == "" {
		if format == report.FormatHTML {
			return rep.HTML(stdout)
		}
		return rep.Markdown(stdout, false)
	}
	written, err := rep.Write(opt.Out, format)
	if err != nil {
		return err
	}
	for _, p := range written {
		fmt.Fprintln(stdout, p)
	}
	return nil
}

func runSweepReport(ctx context.Context, db *experiments.DB, opt reportOptions, stdout io.Writer) error {
	s, err := sweep.Open(ctx, db, opt.Sweep)
	if err != nil {
		return err
	}
	rep, err := report.BuildSweep(ctx, db, s, report.SweepOptions{})
	if err != nil {
		return err
	}
	format, _ := report.ParseFormat(opt.Format)
	if opt.Out == "" {
		if format == report.FormatHTML {
			return rep.HTML(stdout)
		}
		return rep.Markdown(stdout, false)
	}
	written, err := rep.Write(opt.Out, format)
	if err != nil {
		return err
	}
	for _, p := range written {
		fmt.Fprintln(stdout, p)
	}
	return nil
}
