package cli

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/internal/pipeline"
)

type runsDeleteOptions struct{ Yes, Purge bool }

func (o *runsDeleteOptions) flags(f *pflag.FlagSet) {
	f.BoolVarP(&o.Yes, "yes", "y", false, "delete without asking")
	f.BoolVar(&o.Purge, "purge", false, "also remove the runs' checkpoint files (kept otherwise)")
}

func newRunsDeleteCmd(e *env) *cobra.Command {
	return withArgs("delete RUN... [--yes] [--purge]", "Delete runs from the tracker (asks first; --purge removes their checkpoints too)",
		"Deletes each run and everything the tracker holds about it (params, metrics, tags,\ncheckpoint records, evaluations). Its checkpoint files stay unless --purge. A RUNNING run\nwith a live heartbeat is refused. It asks for each run unless --yes.\n\n"+runRefHelp,
		cobra.MinimumNArgs(1), (*runsDeleteOptions).flags, func(cmd *cobra.Command, o *runsDeleteOptions, args []string) error {
			return e.withTracker(cmd.Context(), func(db *experiments.DB) error {
				ids, err := resolveRuns(cmd.Context(), db, args)
				if err != nil {
					return err
				}
				answers := bufio.NewReader(e.Stdin)
				for _, id := range ids {
					if !o.Yes && !e.confirm(cmd.Context(), db, answers, id, o.Purge) {
						return fmt.Errorf("runs delete: run %s not deleted (answer y, or pass --yes)", id)
					}
					res, err := pipeline.DeleteRun(cmd.Context(), db, id, o.Purge)
					if res != nil {
						fmt.Fprintf(e.Stdout, "deleted run %s (%s)\n", id, orDash(res.Run.Name))
						for _, p := range res.Removed {
							fmt.Fprintf(e.Stdout, "  removed %s\n", p)
						}
					}
					if err != nil {
						return err
					}
				}
				return nil
			})
		})
}

// confirm asks on stderr whether to delete run id and reads the answer from stdin.
func (e *env) confirm(ctx context.Context, db *experiments.DB, answers *bufio.Reader, id string, purge bool) bool {
	rec, err := db.GetRun(ctx, id)
	if err != nil {
		return false
	}
	files := "its checkpoint files are kept"
	if purge {
		files = fmt.Sprintf("and its %d checkpoint file(s)", len(rec.Checkpoints))
	}
	fmt.Fprintf(e.Stderr, "delete run %s (%s, %s, %d steps, %d evaluation(s)), %s? [y/N] ", shortID(id), orDash(rec.Name),
		rec.DisplayStatus(), rec.Steps, len(rec.Evaluations), files)
	line, _ := answers.ReadString('\n')
	if line == "" {
		fmt.Fprintln(e.Stderr)
	}
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes"
}
