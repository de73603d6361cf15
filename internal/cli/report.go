package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/natssl/natssl/internal/pipeline"
	"github.com/natssl/natssl/report"
)

func newReportCmd(e *env) *cobra.Command {
	var o reportOptions
	cmd := &cobra.Command{
		Use:   "report [RUN...]",
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

The evaluations compared are those of one probe classifier (--classifier, default linearsvc,
the NeWT protocol's); the latest evaluation of every classifier is listed as well.

Runs are given as RUN arguments, --all (archived runs left out), or --name PATTERN (a glob).
` + runRefHelp + `
Without --out the report is printed to stdout (Markdown by default, or --format html).
With --out DIR it writes DIR/report.md with the SVG plots beside it and DIR/report.html, a
single self-contained page (--format md|html|both, default both).

--sweep SWEEP_ID reports a sweep instead: one row per trial (the swept keys, status, steps,
time, validation score with its 95% interval and its paired difference to the best trial),
the best trial marked, each configuration over its seeds, and the score against each swept key.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := o.format(cmd.Flags().Changed("format"))
			if err != nil {
				return usageErr(err)
			}
			cfg, err := e.loadConfig()
			if err != nil {
				return err
			}
			o.DB, o.Runs = e.Global.DB, args
			rep, err := pipeline.Report(cmd.Context(), cfg, o.ReportOptions)
			if err != nil {
				return err
			}
			return writeReport(e, rep, o.Out, format)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Out, "out", "", "write report.md, report.html and the SVG plots into this directory")
	f.StringVar(&o.Format, "format", "", "md, html or both (default: both with --out, md on stdout)")
	f.BoolVar(&o.All, "all", false, "compare every run in the tracker")
	f.StringVar(&o.Name, "name", "", "compare the runs whose name matches this glob pattern")
	f.StringVar(&o.Baseline, "baseline", "", "the run the others are compared with (default: the first)")
	f.BoolVar(&o.Full, "full", false, "show every config key, not only those that differ")
	f.StringVar(&o.Classifier, "classifier", "", "compare the evaluations of this probe classifier: linearsvc or logreg (default linearsvc)")
	f.StringVar(&o.Sweep, "sweep", "", "report the trials of sweep SWEEP_ID (or a prefix) instead of runs")
	return cmd
}

// reportOptions are the flags of `natssl report`.
type reportOptions struct {
	pipeline.ReportOptions
	Out    string
	Format string
}

// format is --format, defaulted by --out.
func (o *reportOptions) format(given bool) (report.Format, error) {
	if !given {
		o.Format = string(report.FormatMarkdown)
		if o.Out != "" {
			o.Format = string(report.FormatBoth)
		}
	}
	f, err := report.ParseFormat(o.Format)
	if err == nil && f == report.FormatBoth && o.Out == "" {
		err = errors.New("report: --format both needs --out DIR")
	}
	return f, err
}

// writeReport prints the report on stdout, or writes its files and prints their paths.
func writeReport(e *env, rep report.Document, out string, format report.Format) error {
	if out == "" && format == report.FormatHTML {
		return rep.HTML(e.Stdout)
	}
	if out == "" {
		return rep.Markdown(e.Stdout, false)
	}
	written, err := rep.Write(out, format)
	if err != nil {
		return err
	}
	for _, p := range written {
		fmt.Fprintln(e.Stdout, p)
	}
	return nil
}
