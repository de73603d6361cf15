package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/experiments/metric"
	"github.com/natssl/natssl/internal/pipeline"
)

type runsWatchOptions struct {
	Every time.Duration
	Keys  []string
}

func (o *runsWatchOptions) flags(f *pflag.FlagSet) {
	f.DurationVar(&o.Every, "every", 2*time.Second, "how often to read the tracker")
	f.StringSliceVar(&o.Keys, "key", []string{metric.LossLast, metric.Loss, metric.LR,
		metric.ImagesPerS, metric.MonitorKNN, metric.MonitorNeWT}, "the metrics to show")
}

func newRunsWatchCmd(e *env) *cobra.Command {
	return withArgs("watch RUN [--every 2s]", "Follow a run from another terminal: its metrics as they land, until it ends",
		"Reads the tracker every --every (no other process is started) and prints each new row of\nmetrics; it ends when the run ends: exit 0 when it FINISHED, 1 when it FAILED or was KILLED.\nCtrl-C stops watching, not the run.\n\n"+runRefHelp,
		cobra.ExactArgs(1), (*runsWatchOptions).flags, func(cmd *cobra.Command, o *runsWatchOptions, args []string) error {
			if o.Every <= 0 {
				return usageErr(fmt.Errorf("runs watch: --every %s: want a positive duration", o.Every))
			}
			return e.withTracker(cmd.Context(), func(db *experiments.DB) error {
				id, err := db.ResolveRun(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(e.Stdout, "watching run %s (Ctrl-C stops watching, not the run)\n", id)
				r, err := pipeline.Watch(cmd.Context(), db, id, o.Every, o.Keys, func(ev pipeline.WatchEvent) {
					printWatch(e.Stdout, ev)
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(e.Stdout, "run %s %s after %d steps\n", id, r.Status, r.Steps)
				if r.Status != experiments.StatusFinished {
					return fmt.Errorf("runs watch: run %s ended %s: %s", id, r.Status, orDash(r.Error))
				}
				return nil
			})
		})
}

// printWatch prints one event: a row of the metrics that were logged, or the run going stale.
func printWatch(w io.Writer, ev pipeline.WatchEvent) {
	if ev.Row == nil {
		if ev.Stale {
			fmt.Fprintf(w, "run %s has not beaten since %s: its process may have died (still watching)\n",
				ev.Run.ID, ev.Run.HeartbeatAt.Local().Format("15:04:05"))
		}
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  step %d", ev.Row.At.Local().Format("15:04:05"), ev.Row.Step)
	for i, k := range ev.Keys {
		if ev.Row.Logged[i] {
			fmt.Fprintf(&b, "  %s %.4g", k, ev.Row.Values[i])
		}
	}
	fmt.Fprintln(w, b.String())
}
