package cli

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/natssl/natssl/experiments"
)

type runsMetricsOptions struct {
	CSV  bool
	Keys []string
}

func (o *runsMetricsOptions) flags(f *pflag.FlagSet) {
	f.BoolVar(&o.CSV, "csv", false, "write CSV (a header of step, time and the keys; an empty cell where a key was not logged)")
	f.StringSliceVar(&o.Keys, "key", nil, "only these metrics, in this order (repeatable or comma-separated; default: all)")
}

func newRunsMetricsCmd(e *env) *cobra.Command {
	return withArgs("metrics RUN [--csv] [--key K]...", "Export a run's metric series: one row per step, one column per metric",
		"Prints every step a run logged metrics at, as a table or with --csv as CSV for pandas,\nR or a spreadsheet (natssl runs metrics my-run --csv > my-run.csv). Rows are streamed.\n\n"+runRefHelp,
		cobra.ExactArgs(1), (*runsMetricsOptions).flags, func(cmd *cobra.Command, o *runsMetricsOptions, args []string) error {
			return e.withTracker(cmd.Context(), func(db *experiments.DB) error {
				id, err := db.ResolveRun(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if o.Keys == nil {
					if o.Keys, err = db.MetricKeys(cmd.Context(), id); err != nil {
						return err
					}
				}
				out := newMetricsWriter(e.Stdout, o.CSV, o.Keys)
				if _, err := db.EachMetricRow(cmd.Context(), id, o.Keys, -1, out.row); err != nil {
					return err
				}
				return out.flush()
			})
		})
}

// metricsWriter writes metric rows as CSV or an aligned table.
type metricsWriter struct {
	keys []string
	csv  *csv.Writer
	tw   *tabwriter.Writer
}

func newMetricsWriter(w io.Writer, asCSV bool, keys []string) *metricsWriter {
	m := &metricsWriter{keys: keys}
	head := append([]string{"step", "at"}, keys...)
	if asCSV {
		m.csv = csv.NewWriter(w)
		_ = m.csv.Write(head)
	} else {
		m.tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(m.tw, strings.Join(head, "\t")+"\t")
	}
	return m
}

func (m *metricsWriter) row(r experiments.MetricRow) error {
	cells := []string{strconv.FormatInt(r.Step, 10), r.At.UTC().Format(time.RFC3339)}
	for i, v := range r.Values {
		switch {
		case !r.Logged[i] && m.csv != nil:
			cells = append(cells, "")
		case !r.Logged[i]:
			cells = append(cells, "-")
		default:
			cells = append(cells, strconv.FormatFloat(v, 'g', 7, 64))
		}
	}
	if m.csv != nil {
		return m.csv.Write(cells)
	}
	_, err := fmt.Fprintln(m.tw, strings.Join(cells, "\t")+"\t")
	return err
}

func (m *metricsWriter) flush() error {
	if m.csv != nil {
		m.csv.Flush()
		return m.csv.Error()
	}
	return m.tw.Flush()
}
