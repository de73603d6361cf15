package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/report"
)

type runsShowOptions struct{ JSON bool }

func (o *runsShowOptions) flags(f *pflag.FlagSet) {
	f.BoolVar(&o.JSON, "json", false, "print one JSON object instead of text")
}

func newRunsShowCmd(e *env) *cobra.Command {
	return withArgs("show RUN", "Show one run: metadata, tags and note, latest metrics, checkpoints, evaluations and config",
		"Shows everything the tracker holds about a run; its evaluations as the latest of each probe\nclassifier, with the checkpoint and suite they scored.\n\n"+runRefHelp,
		cobra.ExactArgs(1), (*runsShowOptions).flags, func(cmd *cobra.Command, o *runsShowOptions, args []string) error {
			return e.withTracker(cmd.Context(), func(db *experiments.DB) error {
				return runsShow(cmd.Context(), db, args[0], e.Stdout, o.JSON)
			})
		})
}

func runsShow(ctx context.Context, db *experiments.DB, ref string, w io.Writer, asJSON bool) error {
	id, err := db.ResolveRun(ctx, ref)
	if err != nil {
		return err
	}
	rec, err := db.GetRun(ctx, id)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(w, newRunRecordJSON(rec))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	field := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	field("run", rec.ID)
	field("name", rec.Name)
	field("status", rec.DisplayStatus())
	field("error", rec.Error)
	if rec.Archived() {
		field("archived", rec.ArchivedAt.Local().Format(time.RFC3339))
	}
	field("note", rec.Tags[experiments.TagNote])
	field("started", rec.StartedAt.Local().Format(time.RFC3339))
	if !rec.EndedAt.IsZero() {
		field("ended", rec.EndedAt.Local().Format(time.RFC3339))
	}
	field("heartbeat", rec.HeartbeatAt.Local().Format(time.RFC3339))
	field("duration", report.FormatDuration(rec.Duration()))
	field("steps", fmt.Sprint(rec.Steps))
	field("seed", fmt.Sprint(rec.Seed))
	field("git commit", rec.GitCommit)
	field("host", rec.Host)
	field("command", rec.Command)
	for _, k := range sortedKeys(rec.Tags) {
		if k != experiments.TagNote {
			field("tag "+k, rec.Tags[k])
		}
	}
	if len(rec.Latest) > 0 {
		fmt.Fprintln(tw, "\nlatest metrics (loss: mean since the previous row; loss_last: the last step's):")
		fmt.Fprintln(tw, "  KEY\tSTEP\tVALUE")
		for _, k := range sortedKeys(rec.Latest) {
			m := rec.Latest[k]
			fmt.Fprintf(tw, "  %s\t%d\t%.6g\n", k, m.Step, m.Value)
		}
	}
	if len(rec.Checkpoints) > 0 {
		fmt.Fprintln(tw, "\ncheckpoints:")
		fmt.Fprintln(tw, "  STEP\tBYTES\tSHA256\tPATH")
		for _, c := range rec.Checkpoints {
			fmt.Fprintf(tw, "  %d\t%d\t%.12s\t%s\n", c.Step, c.Bytes, c.SHA256, c.Path)
		}
	}
	showExports(tw, rec.Exports)
	showEvaluations(tw, rec)
	if rec.ConfigYAML != "" {
		fmt.Fprintln(tw, "\nconfig:")
		for _, line := range strings.Split(strings.TrimRight(rec.ConfigYAML, "\n"), "\n") {
			fmt.Fprintln(tw, "  "+line)
		}
	} else if len(rec.Params) > 0 {
		// The flattened params are the config; printed only when the YAML was not recorded.
		fmt.Fprintln(tw, "\nparams:")
		for _, p := range rec.Params {
			fmt.Fprintf(tw, "  %s\t%s\n", p.Key, p.Value)
		}
	}
	return tw.Flush() // headings have no tab: each ends the column block above it
}
