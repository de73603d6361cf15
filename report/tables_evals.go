package report

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// evaluationsSection lists every run's latest evaluation of each classifier on the suite, with
// what was scored (checkpoint step, suite file and its hash), so that a reader sees which
// evaluation the comparison uses and which others exist; ok is false when no run has any.
func (rep *Report) evaluationsSection() (section, bool) {
	s := section{Title: "Evaluations recorded", Level: 3, Notes: []string{
		"The latest evaluation of each probe classifier per run; the comparison uses " + rep.Classifier +
			" (natssl report --classifier chooses another)."}}
	t := table{Head: []string{"run", "classifier", "checkpoint", "tasks", "mean", "suite", "suite sha256", "recorded (UTC)"}}
	for _, r := range rep.Runs {
		for _, e := range r.Evaluations {
			classifier := e.Classifier
			if classifier == "" {
				classifier = "(not recorded)"
			}
			suite, hash, at := "–", "–", "–"
			if ev := r.Evaluation(e.EvaluationID); ev != nil {
				if ev.SuitePath != "" {
					suite = filepath.Base(ev.SuitePath)
				}
				hash = orDash(short(ev.SuiteSHA256, 12))
				if !ev.At.IsZero() {
					at = ev.At.UTC().Format("2006-01-02 15:04")
				}
			}
			t.Rows = append(t.Rows, []cell{text(r.Label), text(classifier), num(fmt.Sprint(e.CheckpointStep)), num(fmt.Sprint(e.Tasks)),
				num(fmtFloat(e.Mean, 4)), text(suite), text(hash), text(at)})
		}
	}
	if len(t.Rows) == 0 {
		return s, false
	}
	s.Tables = []table{t}
	return s, true
}

// otherClassifiers names the classifiers of the runs' evaluations other than the compared
// one, sorted.
func (rep *Report) otherClassifiers() string {
	seen := map[string]bool{}
	for _, r := range rep.Runs {
		for _, e := range r.Evaluations {
			if e.Classifier != "" && e.Classifier != rep.Classifier {
				seen[e.Classifier] = true
			}
		}
	}
	var out []string
	for c := range seen {
		out = append(out, c)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
