package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/natssl/natssl/internal/pipeline"
	"github.com/natssl/natssl/sweep"
)

// printPlan lists a checked design's trials (--dry-run).
func printPlan(w io.Writer, p *sweep.Plan) error {
	budget := "no time limit"
	if b := p.Base.Train.TimeLimit.D(); b > 0 {
		budget = b.String() + " per trial"
	}
	fmt.Fprintf(w, "%s; %s; judged on %s\n", p.Describe(), budget, p.Base.Eval.ValCSV)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "trial\tconfig\tseed\t%s\n", strings.Join(p.Keys, "\t"))
	for _, t := range p.Trials {
		vals := make([]string, len(t.Values))
		for i, kv := range t.Values {
			vals[i] = kv.Value
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\n", t.N, t.Config, t.Seed, strings.Join(vals, "\t"))
	}
	return tw.Flush()
}

// printSweepJSON prints where the sweep stands as one JSON line (--json): its id, the trials
// finished and failed, and the best trial.
func printSweepJSON(w io.Writer, res *pipeline.SweepResult) error {
	out := struct {
		SweepID    string            `json:"sweep_id"`
		Trials     int               `json:"trials"`
		Finished   int               `json:"finished"`
		Failed     []int             `json:"failed"`
		BestTrial  int               `json:"best_trial,omitempty"`
		BestRunID  string            `json:"best_run_id,omitempty"`
		BestScore  float64           `json:"best_validation,omitempty"`
		BestValues map[string]string `json:"best_values,omitempty"`
	}{SweepID: res.Sweep.ID, Trials: len(res.Sweep.Trials), Failed: res.Failed}
	for _, st := range res.Status {
		if st.State.Finished() {
			out.Finished++
		}
	}
	if b := res.Best; b != nil {
		out.BestTrial, out.BestRunID, out.BestScore = b.N, b.Run.ID, b.Score.Mean
		out.BestValues = map[string]string{}
		for _, kv := range b.Values {
			out.BestValues[kv.Key] = kv.Value
		}
	}
	return printJSONLine(w, out)
}
