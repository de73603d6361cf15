package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/report"
)

func runsShow(ctx context.Context, db *experiments.DB, idOrPrefix string, w io.Writer, asJSON bool) error {
	id, err := db.ResolveRun(ctx, idOrPrefix)
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
	keys := make([]string, 0, len(rec.Tags))
	for k := range rec.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		field("tag "+k, rec.Tags[k])
	}

	if len(rec.Latest) > 0 {
		fmt.Fprintln(tw, "\nlatest metrics:")
		keys := make([]string, 0, len(rec.Latest))
		for k := range rec.Latest {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintln(tw, "  KEY\tSTEP\tVALUE")
		for _, k := range keys {
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
	if len(rec.Exports) > 0 {
		fmt.Fprintln(tw, "\nexports:")
		fmt.Fprintln(tw, "  STEP\tFORMAT\tIMAGE\tHEAD\tBYTES\tSHA256\tPATH")
		for _, x := range rec.Exports {
			head := "no"
			if x.WithHead {
				head = "yes"
			}
			fmt.Fprintf(tw, "  %d\t%s\t%dpx\t%s\t%d\t%.12s\t%s\n", x.CheckpointStep, x.Format, x.ImageSize, head, x.Bytes, x.SHA256, x.Path)
		}
	}
	for _, sm := range evalSuites(rec.Evals) {
		sums := experiments.Summarize(rec.Evals, sm[0], sm[1])
		fmt.Fprintf(tw, "\nevaluation %s %s:\n", sm[0], sm[1])
		fmt.Fprintln(tw, "  CHECKPOINT STEP\tTASKS\tMEAN")
		for _, s := range sums {
			fmt.Fprintf(tw, "  %d\t%d\t%.4f\n", s.CheckpointStep, s.Tasks, s.Mean)
		}
		if last, _ := experiments.LastAndBest(sums); last != nil {
			fmt.Fprintf(tw, "  by cluster at step %d:\n", last.CheckpointStep)
			for _, c := range last.Clusters {
				fmt.Fprintf(tw, "    %s\t%d tasks\t%.4f\n", orDash(c.Cluster), c.Tasks, c.Mean)
			}
		}
	}
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

// evalSuites returns the distinct (suite, metric) pairs of evals, sorted.
func evalSuites(evals []experiments.Eval) [][2]string {
	seen := map[[2]string]bool{}
	var out [][2]string
	for _, e := range evals {
		k := [2]string{e.Suite, e.Metric}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0]+"\x00"+out[i][1] < out[j][0]+"\x00"+out[j][1] })
	return out
}
