package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/natssl/natssl/experiments"
)

type runsTagOptions struct{ Remove []string }

func (o *runsTagOptions) flags(f *pflag.FlagSet) {
	f.StringArrayVar(&o.Remove, "remove", nil, "remove the tag KEY (repeatable)")
}

func newRunsTagCmd(e *env) *cobra.Command {
	return withArgs("tag RUN [KEY=VALUE...] [--remove KEY]", "Set or remove free-form tags on a run (runs list --tag filters by them)",
		runRefHelp, cobra.MinimumNArgs(1), (*runsTagOptions).flags, func(cmd *cobra.Command, o *runsTagOptions, args []string) error {
			set, err := parseTags("runs tag", args[1:])
			if err != nil {
				return usageErr(err)
			}
			if len(set) == 0 && len(o.Remove) == 0 {
				return usageErr(errors.New("runs tag: give KEY=VALUE to set, or --remove KEY"))
			}
			return e.editRun(cmd.Context(), args[0], func(db *experiments.DB, id string) (string, error) {
				return "tagged", db.SetTags(cmd.Context(), id, set, o.Remove)
			})
		})
}

type noOptions struct{}

func (*noOptions) flags(*pflag.FlagSet) {}

func newRunsNoteCmd(e *env) *cobra.Command {
	return withArgs(`note RUN "TEXT"`, "Keep a note with a run (shown by runs show; an empty TEXT removes it)",
		runRefHelp, cobra.ExactArgs(2), (*noOptions).flags, func(cmd *cobra.Command, _ *noOptions, args []string) error {
			return e.editRun(cmd.Context(), args[0], func(db *experiments.DB, id string) (string, error) {
				if strings.TrimSpace(args[1]) == "" {
					return "note removed from", db.SetTags(cmd.Context(), id, nil, []string{experiments.TagNote})
				}
				return "noted", db.SetTags(cmd.Context(), id, map[string]string{experiments.TagNote: args[1]}, nil)
			})
		})
}

type runsArchiveOptions struct{ Undo bool }

func (o *runsArchiveOptions) flags(f *pflag.FlagSet) {
	f.BoolVar(&o.Undo, "undo", false, "bring archived runs back into listings")
}

func newRunsArchiveCmd(e *env) *cobra.Command {
	return withArgs("archive RUN... [--undo]", "Archive runs: kept with everything, but left out of runs list, report --all and latest",
		"Archived runs stay in the tracker and can still be named by id, prefix or NAME@K;\nruns list --all or --archived shows them.\n\n"+runRefHelp,
		cobra.MinimumNArgs(1), (*runsArchiveOptions).flags, func(cmd *cobra.Command, o *runsArchiveOptions, args []string) error {
			for _, ref := range args {
				err := e.editRun(cmd.Context(), ref, func(db *experiments.DB, id string) (string, error) {
					if o.Undo {
						return "restored", db.SetArchived(cmd.Context(), id, false)
					}
					return "archived", db.SetArchived(cmd.Context(), id, true)
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
}

// editRun resolves ref in the tracker, applies edit and prints "<done> run <id> (<name>)".
func (e *env) editRun(ctx context.Context, ref string, edit func(*experiments.DB, string) (string, error)) error {
	return e.withTracker(ctx, func(db *experiments.DB) error {
		id, err := db.ResolveRun(ctx, ref)
		if err != nil {
			return err
		}
		done, err := edit(db, id)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.Stdout, "%s run %s\n", done, id)
		return err
	})
}
