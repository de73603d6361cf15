package cli

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/report"
)

// runsListOptions are the flags of `natssl runs list`.
type runsListOptions struct {
	JSON             bool
	Name             string
	Status, Tags     []string
	Sort             string
	Reverse          bool
	Limit            int
	All, OnlyArchive bool
}

func (o *runsListOptions) flags(f *pflag.FlagSet) {
	f.BoolVar(&o.JSON, "json", false, "print one JSON array instead of a table")
	f.StringVar(&o.Name, "name", "", "only runs whose name matches this glob pattern (*, ?, [...])")
	f.StringSliceVar(&o.Status, "status", nil, "only runs of these statuses: running, stale, finished, failed, killed (repeatable or comma-separated)")
	f.StringArrayVar(&o.Tags, "tag", nil, "only runs tagged key=value (repeatable: all must match)")
	f.StringVar(&o.Sort, "sort", "started", "order: "+strings.Join(experiments.SortKeys, ", ")+" (each in its natural direction: newest, longest, most steps, lowest loss, best NeWT first)")
	f.BoolVarP(&o.Reverse, "reverse", "r", false, "reverse the order")
	f.IntVarP(&o.Limit, "limit", "n", 0, "show only the first N runs of the order (0: all)")
	f.BoolVar(&o.All, "all", false, "archived runs too")
	f.BoolVar(&o.OnlyArchive, "archived", false, "archived runs only")
}

func newRunsListCmd(e *env) *cobra.Command {
	return leaf("list", "List runs: id, name, status (stale when a RUNNING run stopped beating), started, duration, steps, last loss, NeWT mean",
		`Lists the runs of the tracker, newest first. LAST LOSS is the loss of the run's last step
(as the console showed it); NEWT the mean accuracy of its latest NeWT evaluation with the
linearsvc probe (another classifier is named when the run has only its evaluations).`,
		(*runsListOptions).flags, func(cmd *cobra.Command, o *runsListOptions) error {
			opt, err := o.listOptions()
			if err != nil {
				return usageErr(err)
			}
			return e.withTracker(cmd.Context(), func(db *experiments.DB) error { return runsList(cmd.Context(), db, e.Stdout, opt, o.JSON) })
		})
}

// listOptions turns the flags into the tracker's filters.
func (o *runsListOptions) listOptions() (experiments.ListOptions, error) {
	opt := experiments.ListOptions{Name: o.Name, Sort: o.Sort, Reverse: o.Reverse, Limit: o.Limit}
	if o.Limit < 0 {
		return opt, fmt.Errorf("runs list: --limit %d: want 0 or more", o.Limit)
	}
	switch {
	case o.All && o.OnlyArchive:
		return opt, fmt.Errorf("runs list: --all and --archived together: choose one")
	case o.All:
		opt.Archived = experiments.ArchivedToo
	case o.OnlyArchive:
		opt.Archived = experiments.ArchivedOnly
	}
	for _, s := range o.Status {
		st := experiments.Status(strings.ToUpper(strings.TrimSpace(s)))
		switch st {
		case experiments.StatusRunning, experiments.StatusStale, experiments.StatusFinished, experiments.StatusFailed, experiments.StatusKilled:
			opt.Statuses = append(opt.Statuses, st)
		default:
			return opt, fmt.Errorf("runs list: --status %s: want running, stale, finished, failed or killed", s)
		}
	}
	tags, err := parseTags("runs list: --tag", o.Tags)
	opt.Tags = tags
	return opt, err
}

// parseTags reads key=value arguments.
func parseTags(what string, args []string) (map[string]string, error) {
	tags := map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("%s %q: want key=value", what, a)
		}
		tags[strings.TrimSpace(k)] = v
	}
	return tags, nil
}

func runsList(ctx context.Context, db *experiments.DB, w io.Writer, opt experiments.ListOptions, asJSON bool) error {
	runs, err := db.ListRuns(ctx, opt)
	if err != nil {
		return usageErr(err) // only an unknown --sort is refused before reading
	}
	if asJSON {
		out := make([]runJSON, len(runs))
		for i, r := range runs {
			out[i] = newRunJSON(r)
		}
		return writeJSON(w, out)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tSTARTED\tDURATION\tSTEPS\tLAST LOSS\tNEWT")
	for _, r := range runs {
		loss := "-"
		if v, mean, ok := r.LastLoss(); ok {
			loss = fmt.Sprintf("%.4f", v)
			if mean && !math.IsNaN(v) {
				loss = "~" + loss // a run from before natssl logged the last step's loss: its last window's mean
			}
		}
		newt := "-"
		if r.NeWT != nil {
			newt = fmt.Sprintf("%.4f", r.NeWT.Mean)
			if c := r.NeWT.Classifier; c != "" && c != experiments.HeadlineClassifier {
				newt += " (" + c + ")"
			}
		}
		status := r.DisplayStatus()
		if r.Archived() {
			status += " (archived)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", shortID(r.ID), orDash(r.Name), status,
			r.StartedAt.Local().Format("2006-01-02 15:04"), report.FormatDuration(r.Duration()), r.Steps, loss, newt)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(runs) == 0 {
		fmt.Fprintf(w, "no runs in %s match\n", db.Path())
	}
	return nil
}
