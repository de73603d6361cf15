package report

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// The sections that state how sure the numbers are: the paired comparison with the baseline,
// the seed groups, and every task with its interval.

// fmtInterval writes an interval of accuracies, with signs for one of differences.
func fmtInterval(iv Interval, signs bool) string {
	if !iv.OK {
		return "–"
	}
	f := "[%.4f, %.4f]"
	if signs {
		f = "[%+.4f, %+.4f]"
	}
	return fmt.Sprintf(f, iv.Lo, iv.Hi)
}

// intervalNote says how the intervals and p-values were computed.
func (rep *Report) intervalNote() string {
	return fmt.Sprintf("95%% CI: percentile bootstrap over test images, resampled within each task (%s resamples, seed %d); "+
		"a difference is paired image by image where both runs were scored on the same images. "+
		"p: two-sided sign test over the tasks won and lost (ties dropped).", fmtCount(int64(rep.Eval.Resamples)), rep.Eval.Seed)
}

// pairedSection states each run against the baseline in one sentence.
func (rep *Report) pairedSection() (section, bool) {
	e := rep.Eval
	if len(e.Paired) == 0 {
		return section{}, false
	}
	s := section{Title: "Paired comparison with the baseline", Level: 3}
	for _, c := range e.Paired {
		s.Notes = append(s.Notes, c.Sentence()+".")
		if c.Unpaired > 0 {
			s.Marks = append(s.Marks, fmt.Sprintf("⚠ %s and %s were scored on different test images in %d tasks; those are resampled apart, not paired.", c.B, c.A, c.Unpaired))
		}
	}
	s.Notes = append(s.Notes, "Points are percentage points of the mean accuracy over tasks, with its 95% interval; "+
		"\"N of M tasks\": the tasks, of those both were scored on, where the first run scored higher; p: the sign test over tasks.")
	return s, true
}

// seedSection shows the seed groups when a group holds more than one run.
func (rep *Report) seedSection() (section, bool) {
	e := rep.Eval
	several := false
	for _, g := range e.Groups {
		several = several || len(g.Runs) > 1
	}
	if !several {
		return section{}, false
	}
	s := section{Title: "Seed groups", Level: 3, Notes: []string{
		"Runs whose configs differ only in run.seed (and run.name, run.out_dir, run.db) and that are the same kind of run form a group: " +
			"mean ± standard deviation over its seeds (runs without an evaluation are left out).",
	}}
	head := []string{"group", "runs", "seeds", "mean ± sd"}
	for _, row := range e.Clusters {
		head = append(head, orDash(row.Cluster)+" ± sd")
	}
	t := table{Head: head}
	for _, g := range e.Groups {
		var labels, seeds []string
		for k, j := range g.Runs {
			labels = append(labels, rep.Runs[j].Label)
			seeds = append(seeds, fmt.Sprint(g.Seeds[k]))
		}
		row := []cell{text(g.Label), text(strings.Join(labels, ", ")), text(strings.Join(seeds, ", ")), num(meanPM(g.Mean, g.SD))}
		for i := range e.Clusters {
			row = append(row, num(meanPM(g.ClusterMean[i], g.ClusterSD[i])))
		}
		t.Rows = append(t.Rows, row)
		if len(g.Steps) > 0 {
			steps := make([]string, len(g.Steps))
			for i, st := range g.Steps {
				steps[i] = fmt.Sprint(st)
			}
			s.Marks = append(s.Marks, fmt.Sprintf("⚠ %s: its runs were evaluated at different checkpoint steps (%s).", g.Label, strings.Join(steps, ", ")))
		}
	}
	s.Tables = []table{t}
	for _, c := range e.GroupComparisons {
		s.Notes = append(s.Notes, c.Sentence()+".")
		if c.Unpaired > 0 {
			s.Marks = append(s.Marks, fmt.Sprintf("⚠ %s and %s: %d tasks scored on different test images are resampled apart.", c.B, c.A, c.Unpaired))
		}
	}
	if len(e.GroupComparisons) > 0 {
		s.Notes = append(s.Notes, "A group's interval resamples both its seeds and the test images; with m seeds a bootstrap keeps (m−1)/m "+
			"of the seed-to-seed variance, so with two or three seeds it is on the narrow side. Tasks are won on each group's mean per task.")
	}
	return s, true
}

func meanPM(mean, sd float64) string {
	if math.IsNaN(sd) {
		return fmtFloat(mean, 4)
	}
	return fmtFloat(mean, 4) + " ± " + fmtFloat(sd, 4)
}

// taskSection lists every task with each run's accuracy and its Wilson interval.
func (rep *Report) taskSection() section {
	s := section{Title: "Per task", Level: 3, Notes: []string{"Accuracy [95% Wilson interval] on the task's test images."}}
	t := table{Head: rep.runHead("task", "cluster", "subcluster", "test images")}
	for _, tr := range rep.Eval.Tasks {
		counts := map[int]bool{}
		var ns []int
		for _, c := range tr.Cells {
			if c.N > 0 && !counts[c.N] {
				counts[c.N] = true
				ns = append(ns, c.N)
			}
		}
		sort.Ints(ns)
		nText := make([]string, len(ns))
		for i, n := range ns {
			nText[i] = fmt.Sprint(n)
		}
		row := []cell{text(tr.Task), text(orDash(tr.Cluster)), text(orDash(tr.Subcluster)), num(orDash(strings.Join(nText, " / ")))}
		for _, c := range tr.Cells {
			switch {
			case !c.Has:
				row = append(row, num("–"))
			case c.CI.OK:
				row = append(row, num(fmtFloat(c.Value, 4)+" "+fmtInterval(c.CI, false)))
			default:
				row = append(row, num(fmtFloat(c.Value, 4)))
			}
		}
		t.Rows = append(t.Rows, row)
	}
	s.Tables = []table{t}
	return s
}
