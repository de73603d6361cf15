package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/report"
)

func init() { addCommand(newRunsCmd) }

// runsOptions are the flags of `natssl runs list|show`.
type runsOptions struct {
	JSON bool
}

func newRunsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List the runs in the experiment tracker, or show one",
		Args:  cobra.NoArgs,
	}
	var listOpt, showOpt runsOptions
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
			return runsList(cmd.Context(), db, e.Stdout, listOpt)
		},
	}
	list.Flags().BoolVar(&listOpt.JSON, "json", false, "print one JSON array instead of a table")
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
			return runsShow(cmd.Context(), db, args[0], e.Stdout, showOpt)
		},
	}
	show.Flags().BoolVar(&showOpt.JSON, "json", false, "print one JSON object instead of text")
	cmd.AddCommand(list, show)
	return cmd
}

// openTracker opens the existing tracker database of --db or the config; a missing database is
// an error naming the path, never created by a read-only command.
func (e *env) openTracker(ctx context.Context) (*experiments.DB, error) {
	cfg, err := e.loadConfig()
	if err != nil {
		return nil, err
	}
	return experiments.OpenExisting(ctx, e.dbPath(cfg))
}

func runsList(ctx context.Context, db *experiments.DB, w io.Writer, opt runsOptions) error {
	runs, err := db.ListRuns(ctx, experiments.ListOptions{})
	if err != nil {
		return err
	}
	if opt.JSON {
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
		if m, ok := r.Latest[experiments.MetricLoss]; ok {
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

func runsShow(ctx context.Context, db *experiments.DB, idOrPrefix string, w io.Writer, opt runsOptions) error {
	id, err := db.ResolveRun(ctx, idOrPrefix)
	if err != nil {
		return err
	}
	rec, err := db.GetRun(ctx, id)
	if err != nil {
		return err
	}
	if opt.JSON {
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
	if err := tw.Flush(); err != nil {
		return err
	}

	if len(rec.Latest) > 0 {
		fmt.Fprintln(w, "\nlatest metrics:")
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
		tw.Flush()
	}
	if len(rec.Checkpoints) > 0 {
		fmt.Fprintln(w, "\ncheckpoints:")
		fmt.Fprintln(tw, "  STEP\tBYTES\tSHA256\tPATH")
		for _, c := range rec.Checkpoints {
			fmt.Fprintf(tw, "  %d\t%d\t%.12s\t%s\n", c.Step, c.Bytes, c.SHA256, c.Path)
		}
		tw.Flush()
	}
	for _, sm := range evalSuites(rec.Evals) {
		sums := experiments.Summarize(rec.Evals, sm[0], sm[1])
		fmt.Fprintf(w, "\nevaluation %s %s:\n", sm[0], sm[1])
		fmt.Fprintln(tw, "  CHECKPOINT STEP\tTASKS\tMEAN")
		for _, s := range sums {
			fmt.Fprintf(tw, "  %d\t%d\t%.4f\n", s.CheckpointStep, s.Tasks, s.Mean)
		}
		tw.Flush()
		if last, _ := experiments.LastAndBest(sums); last != nil {
			fmt.Fprintf(w, "  by cluster at step %d:\n", last.CheckpointStep)
			for _, c := range last.Clusters {
				fmt.Fprintf(tw, "    %s\t%d tasks\t%.4f\n", orDash(c.Cluster), c.Tasks, c.Mean)
			}
			tw.Flush()
		}
	}
	if rec.ConfigYAML != "" {
		fmt.Fprintln(w, "\nconfig:")
		for _, line := range strings.Split(strings.TrimRight(rec.ConfigYAML, "\n"), "\n") {
			fmt.Fprintln(w, "  "+line)
		}
	} else if len(rec.Params) > 0 {
		// The flattened params are the config; printed only when the YAML was not recorded.
		fmt.Fprintln(w, "\nparams:")
		for _, p := range rec.Params {
			fmt.Fprintf(tw, "  %s\t%s\n", p.Key, p.Value)
		}
		tw.Flush()
	}
	return nil
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

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// num is a float64 that JSON writes as null when it is NaN or infinite (JSON has neither).
type num float64

func (n num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(f)
}

// runJSON is one run of `runs list --json`.
type runJSON struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Status      string     `json:"status"`
	Stale       bool       `json:"stale"`
	StartedAt   time.Time  `json:"started_at"`
	EndedAt     *time.Time `json:"ended_at"`
	HeartbeatAt time.Time  `json:"heartbeat_at"`
	DurationS   float64    `json:"duration_s"`
	Steps       int64      `json:"steps"`
	Loss        *num       `json:"loss"`
	ImagesPerS  *num       `json:"images_per_s"`
	NeWTMean    *num       `json:"newt_mean"`
	NeWTStep    *int64     `json:"newt_checkpoint_step"`
	NeWTTasks   int        `json:"newt_tasks"`
	Error       string     `json:"error,omitempty"`
}

func newRunJSON(r *experiments.RunInfo) runJSON {
	j := runJSON{ID: r.ID, Name: r.Name, Status: string(r.Status), Stale: r.Stale, StartedAt: r.StartedAt,
		HeartbeatAt: r.HeartbeatAt, DurationS: r.Duration().Seconds(), Steps: r.Steps, Error: r.Error}
	if !r.EndedAt.IsZero() {
		t := r.EndedAt
		j.EndedAt = &t
	}
	if m, ok := r.Latest[experiments.MetricLoss]; ok {
		v := num(m.Value)
		j.Loss = &v
	}
	if m, ok := r.Latest[experiments.MetricImagesPerS]; ok {
		v := num(m.Value)
		j.ImagesPerS = &v
	}
	if r.NeWT != nil {
		v, s := num(r.NeWT.Mean), r.NeWT.CheckpointStep
		j.NeWTMean, j.NeWTStep, j.NeWTTasks = &v, &s, r.NeWT.Tasks
	}
	return j
}

type metricJSON struct {
	Step  int64     `json:"step"`
	Value num       `json:"value"`
	At    time.Time `json:"at"`
}

type checkpointJSON struct {
	Step   int64     `json:"step"`
	Path   string    `json:"path"`
	SHA256 string    `json:"sha256"`
	Bytes  int64     `json:"bytes"`
	At     time.Time `json:"at"`
}

type evalJSON struct {
	CheckpointStep int64  `json:"checkpoint_step"`
	Suite          string `json:"suite"`
	Task           string `json:"task"`
	Cluster        string `json:"cluster"`
	Subcluster     string `json:"subcluster"`
	Metric         string `json:"metric"`
	Value          num    `json:"value"`
}

type groupJSON struct {
	Cluster    string `json:"cluster"`
	Subcluster string `json:"subcluster,omitempty"`
	Tasks      int    `json:"tasks"`
	Mean       num    `json:"mean"`
}

type summaryJSON struct {
	CheckpointStep int64       `json:"checkpoint_step"`
	Suite          string      `json:"suite"`
	Metric         string      `json:"metric"`
	Tasks          int         `json:"tasks"`
	Mean           num         `json:"mean"`
	Clusters       []groupJSON `json:"clusters"`
	Subclusters    []groupJSON `json:"subclusters"`
}

// runRecordJSON is `runs show --json`.
type runRecordJSON struct {
	runJSON
	Seed          int64                 `json:"seed"`
	GitCommit     string                `json:"git_commit"`
	Host          string                `json:"host"`
	Command       string                `json:"command"`
	Tags          map[string]string     `json:"tags"`
	Params        map[string]string     `json:"params"`
	ConfigYAML    string                `json:"config_yaml"`
	LatestMetrics map[string]metricJSON `json:"latest_metrics"`
	Checkpoints   []checkpointJSON      `json:"checkpoints"`
	Evals         []evalJSON            `json:"evals"`
	EvalSummaries []summaryJSON         `json:"eval_summaries"`
}

func newRunRecordJSON(rec *experiments.RunRecord) runRecordJSON {
	j := runRecordJSON{runJSON: newRunJSON(&rec.RunInfo), Seed: rec.Seed, GitCommit: rec.GitCommit, Host: rec.Host,
		Command: rec.Command, Tags: rec.Tags, Params: map[string]string{}, ConfigYAML: rec.ConfigYAML,
		LatestMetrics: map[string]metricJSON{}, Checkpoints: []checkpointJSON{}, Evals: []evalJSON{}, EvalSummaries: []summaryJSON{}}
	for _, p := range rec.Params {
		j.Params[p.Key] = p.Value
	}
	for k, m := range rec.Latest {
		j.LatestMetrics[k] = metricJSON{Step: m.Step, Value: num(m.Value), At: m.At}
	}
	for _, c := range rec.Checkpoints {
		j.Checkpoints = append(j.Checkpoints, checkpointJSON{c.Step, c.Path, c.SHA256, c.Bytes, c.At})
	}
	for _, e := range rec.Evals {
		j.Evals = append(j.Evals, evalJSON{e.CheckpointStep, e.Suite, e.Task, e.Cluster, e.Subcluster, e.Metric, num(e.Value)})
	}
	for _, sm := range evalSuites(rec.Evals) {
		for _, s := range experiments.Summarize(rec.Evals, sm[0], sm[1]) {
			sj := summaryJSON{CheckpointStep: s.CheckpointStep, Suite: s.Suite, Metric: s.Metric, Tasks: s.Tasks, Mean: num(s.Mean)}
			for _, c := range s.Clusters {
				sj.Clusters = append(sj.Clusters, groupJSON{Cluster: c.Cluster, Tasks: c.Tasks, Mean: num(c.Mean)})
			}
			for _, c := range s.Subclusters {
				sj.Subclusters = append(sj.Subclusters, groupJSON{c.Cluster, c.Subcluster, c.Tasks, num(c.Mean)})
			}
			j.EvalSummaries = append(j.EvalSummaries, sj)
		}
	}
	return j
}
