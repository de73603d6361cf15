package cli

import (
	"github.com/spf13/cobra"
)

// runRefHelp says what a RUN argument may be, for every command that takes one.
const runRefHelp = `RUN is a run id or a unique prefix of one, a run name (its latest run), NAME@K (the K-th
run of that name, from 1), or latest.`

func newRunsCmd(e *env) *cobra.Command {
	return group("runs", "List, show, tag, note, archive, delete, export and watch the runs of the tracker",
		newRunsListCmd(e), newRunsShowCmd(e), newRunsTagCmd(e), newRunsNoteCmd(e), newRunsArchiveCmd(e),
		newRunsDeleteCmd(e), newRunsMetricsCmd(e), newRunsWatchCmd(e))
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
