package cli

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"

	"github.com/natssl/natssl/experiments"
)

// showExports lists a run's exports under runs show's heading; nothing when it has none.
func showExports(tw io.Writer, exports []experiments.Export) {
	if len(exports) > 0 {
		fmt.Fprintln(tw, "\nexports:")
		fmt.Fprintln(tw, "  STEP\tFORMAT\tIMAGE\tHEAD\tBYTES\tSHA256\tPATH")
		for _, x := range exports {
			head := "no"
			if x.WithHead {
				head = "yes"
			}
			fmt.Fprintf(tw, "  %d\t%s\t%dpx\t%s\t%d\t%.12s\t%s\n", x.CheckpointStep, x.Format, x.ImageSize, head, x.Bytes, x.SHA256, x.Path)
		}
	}
}

// showEvaluations lists, per suite, how many evaluations a run has and the latest of each
// classifier with the checkpoint and suite file it scored; the mean accuracy is the score (the
// chosen C values are not averaged into one).
func showEvaluations(tw io.Writer, rec *experiments.RunRecord) {
	for _, suite := range evalSuites(rec.Evals) {
		sums := experiments.Summarize(rec.Evals, suite, experiments.MetricAccuracy)
		fmt.Fprintf(tw, "\nevaluations on %s (%d in all; the latest of each classifier):\n", suite, len(sums))
		fmt.Fprintln(tw, "  CLASSIFIER\tCHECKPOINT STEP\tTASKS\tMEAN ACCURACY\tSUITE\tRECORDED")
		for _, s := range experiments.LatestPerClassifier(sums) {
			suiteFile, at := "-", "-"
			if ev := rec.Evaluation(s.EvaluationID); ev != nil {
				if ev.SuitePath != "" {
					suiteFile = filepath.Base(ev.SuitePath) + " " + shortHash(ev.SuiteSHA256)
				}
				at = ev.At.Local().Format("2006-01-02 15:04")
			}
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%.4f\t%s\t%s\n", orDash(s.Classifier), s.CheckpointStep, s.Tasks, s.Mean, suiteFile, at)
			for _, c := range s.Clusters {
				fmt.Fprintf(tw, "    %s\t\t%d tasks\t%.4f\t\t\n", orDash(c.Cluster), c.Tasks, c.Mean)
			}
		}
	}
}

func shortHash(h string) string {
	if len(h) > 12 {
		h = h[:12]
	}
	if h == "" {
		return ""
	}
	return "(sha256 " + h + ")"
}

// evalSuites returns the distinct suites of evals, sorted.
func evalSuites(evals []experiments.Eval) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range evals {
		if !seen[e.Suite] {
			seen[e.Suite] = true
			out = append(out, e.Suite)
		}
	}
	sort.Strings(out)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
