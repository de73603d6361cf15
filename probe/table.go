package probe

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

// WriteTable prints the results for people: one line per task (task, cluster, subcluster,
// n_train, n_test, chosen C, test accuracy), then the means per subcluster and per cluster,
// then the mean over all tasks.
func (r *Results) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "task\tcluster\tsubcluster\tn_train\tn_test\tC\taccuracy\t")
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	for _, t := range r.Tasks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%.4f\t\n", t.Task, dash(t.Cluster), dash(t.Subcluster), t.NTrain, t.NTest,
			strconv.FormatFloat(t.C, 'g', -1, 64), t.Accuracy)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	groups := func(title string, gs []GroupMean) {
		if len(gs) == 0 {
			return
		}
		fmt.Fprintf(w, "\nmean per %s:\n", title)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, g := range gs {
			fmt.Fprintf(tw, "  %s\t%d tasks\t%.4f\t\n", g.Name, g.Tasks, g.Accuracy)
		}
		tw.Flush()
	}
	groups("subcluster", r.Subclusters)
	groups("cluster", r.Clusters)
	notConv := 0
	for _, t := range r.Tasks {
		notConv += t.NotConverged
	}
	if notConv > 0 {
		fmt.Fprintf(w, "\n%d fits reached the iteration limit (scikit-learn would warn that liblinear failed to converge)\n", notConv)
	}
	_, err := fmt.Fprintf(w, "\nmean accuracy over %d tasks (%s): %.4f\n", len(r.Tasks), r.Classifier, r.Mean)
	return err
}
