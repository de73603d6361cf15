package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/experiments/metric"
	"github.com/natssl/natssl/report"
)

func newRunsCmd(e *env) *cobra.Command {
	var listJSON, showJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List runs: id, name, status (stale when a RUNNING run stopped beating), started, duration, steps, last loss, NeWT mean",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := e.openTracker(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			return runsList(cmd.Context(), db, e.Stdout, listJSON)
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print one JSON array instead of a table")
	show := &cobra.Command{
		Use:   "show RUN_ID",
		Short: "Show one run: metadata, latest metrics, checkpoints, evaluations, params and config (a unique id prefix is enough)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := e.openTracker(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			return runsShow(cmd.Context(), db, args[0], e.Stdout, showJSON)
		},
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print one JSON object instead of text")
	return group("runs", "List the runs in the experiment tracker, or show one", list, show)
}

// openTracker opens the existing tracker database of --db or the config; a missing database is
// an error naming the path, never created by a read-only command.
func (e *env) openTracker(ctx context.Context) (*experiments.DB, error) {
	cfg, err := e.loadConfig()
	if err != nil {
		return nil, err
	}
	db := e.Global.DB
	if db == "" {
		db = cfg.Run.DB
	}
	return experiments.OpenExisting(ctx, db)
}

func runsList(ctx context.Context, db *experiments.DB, w io.Writer, asJSON bool) error {
	runs, err := db.ListRuns(ctx, experiments.ListOptions{})
	if err != nil {
		return err
	}
	if asJSON {
		out := make([]runJSON, len(runs))
		for i, r := range runs {
			out[i] = newRunJSON(r)
		}
		return writeJSON(w, out)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tSTARTED\tDURATION\tSTEPS\tLOSS\tNEWT")
	for _, r := range runs {
		loss := "-"
		if m, ok := r.Latest[metric.Loss]; ok {
			loss = fmt.Sprintf("%.4f", m.Value)
		}
		newt := "-"
		if r.NeWT != nil {
			newt = fmt.Sprintf("%.4f", r.NeWT.Mean)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", shortID(r.ID), orDash(r.Name), r.DisplayStatus(),
			r.StartedAt.Local().Format("2006-01-02 15:04"), report.FormatDuration(r.Duration()), r.Steps, loss, newt)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(runs) == 0 {
		fmt.Fprintf(w, "no runs in %s\n", db.Path())
	}
	return nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
