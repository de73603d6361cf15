package report

import (
	"bufio"
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"

	"github.com/natssl/natssl/sweep"
)

// The sweep report is laid out as sections, like the run comparison, and written with the same
// Markdown and HTML writers.

func (rep *SweepReport) title() string { return "natssl sweep " + rep.Sweep.Short() }

func (rep *SweepReport) lead() string {
	return fmt.Sprintf("%s, from %s, generated %s UTC.", rep.Sweep.Describe(), rep.DBPath, rep.Generated.UTC().Format("2006-01-02 15:04"))
}

// Markdown writes the report as Markdown; with plots, each plot as an image beside the file.
func (rep *SweepReport) Markdown(w io.Writer, plots bool) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# %s\n\n%s\n", mdEscape(rep.title()), mdEscape(rep.lead()))
	writeMDSections(bw, rep.sections(), plots)
	return bw.Flush()
}

// HTML writes the report as one self-contained page.
func (rep *SweepReport) HTML(w io.Writer) error {
	return writePage(w, rep.title(), template.HTML(template.HTMLEscapeString(rep.lead())), rep.sections())
}

// Write writes report.md with the SVG plots beside it and report.html into dir, as Format says.
func (rep *SweepReport) Write(dir string, f Format) ([]string, error) {
	return writeReport(dir, f, rep.Markdown, rep.HTML, rep.Plots)
}

func (rep *SweepReport) seeds() bool { return rep.Sweep.Spec.Seeds > 1 }

func (rep *SweepReport) sections() []section {
	s := rep.Sweep
	budget := "no time limit"
	if b := s.Budget(); b > 0 {
		budget = "a budget of " + b.String() + " per trial (train.time_limit)"
	}
	trials := section{Title: "Trials", Level: 2, Notes: []string{
		fmt.Sprintf("Judged on the validation suite %s (suite %q): never on the evaluation suite, which stays for judging the recipe chosen here.",
			s.Base.Eval.ValCSV, "val"),
		fmt.Sprintf("Each trial trained to train.steps or %s, whichever came first, then its last checkpoint was scored with the probe.", budget),
		fmt.Sprintf("95%% CI: percentile bootstrap over the validation test images, resampled within each task (%s resamples, seed %d); "+
			"Δ best is paired image by image with the best trial, and \"within noise\" when its interval holds 0.",
			fmtCount(int64(rep.Resamples)), rep.Seed),
	}}
	head := []string{"trial"}
	if rep.seeds() {
		head = append(head, "config", "seed")
	}
	head = append(head, rep.Keys...)
	head = append(head, "status", "steps", "training time", "validation", "95% CI", "Δ best", "Δ 95% CI", "vs best", "run")
	t := table{Head: head}
	for _, tr := range rep.Trials {
		name := text(fmt.Sprint(tr.N))
		if tr == rep.Best {
			name = cell{Text: fmt.Sprintf("%d ★ best", tr.N), Class: "gain"}
		}
		row := []cell{name}
		if rep.seeds() {
			row = append(row, num(fmt.Sprint(tr.Config)), num(fmt.Sprint(tr.Seed)))
		}
		for _, k := range rep.Keys {
			row = append(row, text(tr.Value[k]))
		}
		status := text(stateText(tr))
		if tr.State != sweep.Done {
			status.Class = "mark"
		}
		row = append(row, status, num(rep.stepsText(tr)), num(orDash(durationText(tr))), num(fmtFloat(tr.Mean, 4)), num(fmtInterval(tr.CI, false)))
		switch {
		case tr == rep.Best:
			row = append(row, num("–"), num("–"), text("best"))
		case math.IsNaN(tr.Delta):
			row = append(row, num("–"), num("–"), text(""))
		default:
			vs := ""
			if tr.DeltaCI.OK {
				vs = "worse"
				if tr.DeltaCI.Lo <= 0 && tr.DeltaCI.Hi >= 0 {
					vs = "within noise"
				}
			}
			row = append(row, delta(tr.Delta), num(fmtInterval(tr.DeltaCI, true)), text(vs))
		}
		run := "–"
		if tr.Run != nil {
			run = shortID(tr.Run.ID)
		}
		t.Rows = append(t.Rows, append(row, text(run)))
		if tr.Run != nil && tr.NoInterval != "" && tr.Score != nil {
			trials.Marks = append(trials.Marks, fmt.Sprintf("⚠ trial %d: %s", tr.N, tr.NoInterval))
		}
		if tr.State == sweep.Unfinished || tr.State == sweep.Running || tr.State == sweep.Pending || tr.State == sweep.Trained {
			trials.Marks = append(trials.Marks, fmt.Sprintf("⚠ trial %d is %s: natssl sweep --resume %s finishes it", tr.N, stateText(tr), s.Short()))
		}
	}
	trials.Tables = []table{t}
	out := []section{trials}

	if rep.seeds() {
		cs := section{Title: "Configurations", Level: 2, Notes: []string{
			fmt.Sprintf("Each configuration over its %d seeds: mean ± standard deviation of the trials' validation scores.", s.Spec.Seeds)}}
		t := table{Head: append(append([]string{"config"}, rep.Keys...), "seeds scored", "validation mean ± sd")}
		for _, c := range rep.Configs {
			name := text(fmt.Sprint(c.N))
			if c.BestMarked {
				name = cell{Text: fmt.Sprintf("%d ★ best", c.N), Class: "gain"}
			}
			row := []cell{name}
			for _, k := range rep.Keys {
				row = append(row, text(c.Value[k]))
			}
			row = append(row, num(fmt.Sprintf("%d of %d", c.Scored, len(c.Trials))), num(orDash(meanPMOrNone(c))))
			t.Rows = append(t.Rows, row)
		}
		cs.Tables = []table{t}
		out = append(out, cs)
	}

	best := section{Title: "The best", Level: 2}
	switch b := rep.Best; {
	case b == nil:
		best.Notes = []string{"No trial is scored yet."}
	default:
		sets := make([]string, len(b.Values))
		for i, kv := range b.Values {
			sets[i] = "--set " + kv.Key + "=" + kv.Value
			if strings.ContainsAny(kv.Value, "[]*? ") { // quoted for a shell
				sets[i] = "--set '" + kv.Key + "=" + kv.Value + "'"
			}
		}
		best.Notes = []string{
			fmt.Sprintf("Trial %d (run %s): validation %s %s.", b.N, b.Run.ID, fmtFloat(b.Mean, 4), fmtInterval(b.CI, false)),
			"Its recipe, on the sweep's base config: " + strings.Join(sets, " ") + ".",
			"Judge it on the evaluation suite: natssl eval --run " + shortID(b.Run.ID) + ".",
		}
		if c := rep.BestConfig; rep.seeds() && c != nil {
			best.Notes = append(best.Notes, fmt.Sprintf("Best configuration over its seeds: %d (%s).", c.N, meanPMOrNone(c)))
		}
	}
	out = append(out, best)
	if len(rep.Plots) > 0 {
		out = append(out, section{Title: "Validation score against each swept key", Level: 2,
			Notes: []string{"Each trial's score with its 95% interval; the best trial is marked."}, Plots: rep.Plots})
	}
	return out
}

func meanPMOrNone(c *SweepConfig) string {
	if c.Scored == 0 {
		return ""
	}
	return meanPM(c.Mean, c.SD)
}

// stateText is a trial's status for the table.
func stateText(t *SweepTrial) string {
	switch t.State {
	case sweep.Unfinished:
		return "unfinished (" + strings.ToLower(t.Run.DisplayStatus()) + ")"
	case sweep.Trained:
		return "trained, not scored"
	}
	return t.State.String()
}

// stepsText is how far a trial trained, and whether its budget stopped it.
func (rep *SweepReport) stepsText(t *SweepTrial) string {
	if t.Run == nil {
		return "–"
	}
	s := fmt.Sprint(t.Steps)
	if t.TotalSteps > 0 {
		s += fmt.Sprintf(" of %d", t.TotalSteps)
		if t.Steps < t.TotalSteps && t.State == sweep.Done && t.Budget > 0 {
			s += " (budget)"
		}
	}
	return s
}

func durationText(t *SweepTrial) string {
	if t.Run == nil {
		return ""
	}
	return FormatDuration(t.Time)
}
