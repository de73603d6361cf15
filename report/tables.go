package report

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// The report is laid out once as sections of tables, then written as Markdown or HTML, so that
// both formats always show the same numbers.

// section is a heading, notes, and tables.
type section struct {
	Title  string
	Level  int      // 2 or 3
	Notes  []string // before the tables
	Tables []table
	Marks  []string // after the tables: warnings about single runs
	Plots  []Plot
}

type table struct {
	Caption string
	Head    []string
	Rows    [][]cell
}

// cell is a table cell; Class says how HTML colours it ("gain", "loss", "mark", "num").
type cell struct {
	Text  string
	Class string
}

func text(s string) cell { return cell{Text: s} }
func num(s string) cell  { return cell{Text: s, Class: "num"} }

func fmtFloat(v float64, digits int) string {
	if math.IsNaN(v) {
		return "NaN"
	}
	return fmt.Sprintf("%.*f", digits, v)
}

// delta formats a difference to the baseline with its sign, coloured by direction.
func delta(d float64) cell {
	switch {
	case math.IsNaN(d):
		return cell{Text: "–", Class: "num"}
	case d > 0:
		return cell{Text: fmt.Sprintf("+%.4f", d), Class: "num gain"}
	case d < 0:
		return cell{Text: fmt.Sprintf("%.4f", d), Class: "num loss"}
	}
	return cell{Text: "±0", Class: "num"}
}

// FormatDuration rounds d for people: 42s, 3m07s, 2h05m.
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second).Seconds()))
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

func fmtCount(n int64) string {
	if n < 0 {
		return "–"
	}
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (rep *Report) runHead(first ...string) []string {
	head := append([]string(nil), first...)
	for _, r := range rep.Runs {
		head = append(head, r.Label)
	}
	return head
}

// sections lays the report out.
func (rep *Report) sections() []section {
	var out []section

	// Runs: metadata and marks.
	runs := section{Title: "Runs", Level: 2}
	t := table{Head: []string{"run", "id", "status", "started (UTC)", "duration", "steps", "images seen", "host", "git commit"}}
	for _, r := range rep.Runs {
		label := r.Label
		if r.Baseline {
			label += " (baseline)"
		}
		status := cell{Text: r.DisplayStatus()}
		if r.Stale || r.Status == "FAILED" || r.Status == "KILLED" {
			status.Class = "mark"
		}
		t.Rows = append(t.Rows, []cell{text(label), text(shortID(r.ID)), status,
			text(r.StartedAt.UTC().Format("2006-01-02 15:04")), num(FormatDuration(r.Duration())), num(fmtCount(r.Steps)),
			num(fmtCount(r.ImagesSeen)), text(r.Host), text(shortCommit(r.GitCommit, r.Tags["git_dirty"] == "true"))})
		for _, m := range r.Marks() {
			runs.Marks = append(runs.Marks, fmt.Sprintf("⚠ %s: %s", r.Label, m))
		}
	}
	runs.Tables = []table{t}
	out = append(out, runs)

	// Config.
	cfg := section{Title: "Config differences", Level: 2}
	switch {
	case rep.Config.Full:
		cfg.Title = "Config"
		cfg.Notes = []string{fmt.Sprintf("All %d keys.", rep.Config.TotalKeys)}
	case len(rep.Config.Keys) == 0:
		cfg.Notes = []string{fmt.Sprintf("All %d keys are the same in every run.", rep.Config.TotalKeys)}
	default:
		cfg.Notes = []string{fmt.Sprintf("%d of %d keys differ (--full shows all).", len(rep.Config.Keys), rep.Config.TotalKeys)}
	}
	if len(rep.Config.Keys) > 0 {
		t := table{Head: rep.runHead("key")}
		for i, k := range rep.Config.Keys {
			row := []cell{text(k)}
			for j, v := range rep.Config.Values[i] {
				if rep.Config.Missing[i][j] {
					row = append(row, cell{Text: "(unset)", Class: "mark"})
				} else {
					row = append(row, text(v))
				}
			}
			t.Rows = append(t.Rows, row)
		}
		cfg.Tables = []table{t}
	}
	out = append(out, cfg)

	// Training.
	tr := section{Title: "Training", Level: 2}
	tr.Notes = []string{"The last step's loss is the one the console showed; the others are means over a logging window (train.log_every steps), as the loss plot draws them."}
	t = table{Head: []string{"run", "last step's loss", "final window mean", "at step", "best window mean", "at step", "final images/s", "mean images/s", "best images/s"}}
	for _, r := range rep.Runs {
		s := r.Training
		if len(r.Loss) == 0 && len(r.ImagesPerS) == 0 {
			t.Rows = append(t.Rows, []cell{text(r.Label), {Text: "no training metrics", Class: "mark"}, text(""), text(""), text(""), text(""), text(""), text(""), text("")})
			continue
		}
		t.Rows = append(t.Rows, []cell{text(r.Label), num(fmtFloat(s.LastStepLoss, 4)), num(fmtFloat(s.FinalLoss, 4)), num(fmt.Sprint(s.FinalLossStep)),
			num(fmtFloat(s.BestLoss, 4)), num(fmt.Sprint(s.BestLossStep)), num(fmtFloat(s.FinalImagesPerS, 1)),
			num(fmtFloat(s.MeanImagesPerS, 1)), num(fmtFloat(s.BestImagesPerS, 1))})
	}
	tr.Tables = []table{t}
	tr.Plots = rep.plots("loss.svg", "images_per_s.svg", "monitor.svg")
	out = append(out, tr)

	out = append(out, rep.evalSections()...)
	out = append(out, rep.efficiencySection())

	// Checkpoints.
	ck := section{Title: "Checkpoints", Level: 2}
	t = table{Head: []string{"run", "step", "bytes", "sha256", "path"}}
	for _, r := range rep.Runs {
		for _, c := range r.Checkpoints {
			t.Rows = append(t.Rows, []cell{text(r.Label), num(fmt.Sprint(c.Step)), num(fmtCount(c.Bytes)), text(short(c.SHA256, 12)), text(c.Path)})
		}
	}
	if len(t.Rows) == 0 {
		ck.Notes = []string{"No run recorded a checkpoint."}
	} else {
		ck.Tables = []table{t}
	}
	out = append(out, ck, rep.exportsSection())
	return out
}

func (rep *Report) evalSections() []section {
	title := "NeWT " + rep.Metric
	if rep.Eval == nil {
		none := section{Title: title, Level: 2, Notes: []string{"No run has a " + rep.Suite + " evaluation yet (natssl eval --run RUN_ID)."}}
		if others := rep.otherClassifiers(); others != "" {
			none.Notes = []string{fmt.Sprintf("No run has a %s evaluation with the %s probe; there are evaluations with %s (natssl report --classifier %s).",
				rep.Suite, rep.Classifier, others, strings.SplitN(others, ",", 2)[0])}
		}
		out := []section{none}
		if s, ok := rep.evaluationsSection(); ok {
			out = append(out, s)
		}
		return out
	}
	e := rep.Eval
	base := rep.Runs[0]
	head := section{Title: title, Level: 2, Notes: []string{
		"Each run at its last evaluated checkpoint, with the " + rep.Classifier + " probe; differences are to the baseline, " + base.Label + ".",
		rep.intervalNote(),
	}}
	if base.LastEval == nil {
		head.Notes = append(head.Notes, "⚠ The baseline has no evaluation, so no differences can be taken.")
	}
	t := table{Head: []string{"run", "checkpoint", "tasks", "mean", "95% CI", "Δ baseline", "Δ 95% CI", "p (sign test)", "best mean (step)", "won", "lost", "tied"}}
	for j, r := range rep.Runs {
		c := e.Overall[j]
		if !c.Has {
			row := []cell{text(r.Label), {Text: "not evaluated", Class: "mark"}}
			for len(row) < len(t.Head) {
				row = append(row, text(""))
			}
			t.Rows = append(t.Rows, row)
			continue
		}
		if r.NoOutcomes != "" {
			head.Marks = append(head.Marks, fmt.Sprintf("⚠ %s: %s", r.Label, r.NoOutcomes))
		}
		won, lost, tied, p := num(""), num(""), num(""), num("")
		if j > 0 && base.LastEval != nil {
			won, lost, tied = num(fmt.Sprint(c.Won)), num(fmt.Sprint(c.Lost)), num(fmt.Sprint(c.Tied))
			p = num(pValue(c.P))
		}
		t.Rows = append(t.Rows, []cell{text(r.Label), num(fmt.Sprint(r.LastEval.CheckpointStep)), num(fmt.Sprint(c.Tasks)),
			num(fmtFloat(c.Mean, 4)), num(fmtInterval(c.CI, false)), delta(c.Delta), num(fmtInterval(c.DeltaCI, true)), p,
			num(fmt.Sprintf("%s (%d)", fmtFloat(r.BestEval.Mean, 4), r.BestEval.CheckpointStep)), won, lost, tied})
	}
	head.Tables = []table{t}
	out := []section{head}
	if s, ok := rep.pairedSection(); ok {
		out = append(out, s)
	}
	if s, ok := rep.seedSection(); ok {
		out = append(out, s)
	}

	groupTable := func(rows []GroupRow, sub bool) table {
		h := []string{"cluster"}
		if sub {
			h = append(h, "subcluster")
		}
		t := table{Head: rep.runHead(h...)}
		for _, g := range rows {
			row := []cell{text(orDash(g.Cluster))}
			if sub {
				row = append(row, text(orDash(g.Subcluster)))
			}
			for j, c := range g.Cells {
				if !c.Has {
					row = append(row, cell{Text: "–", Class: "num"})
					continue
				}
				v := fmtFloat(c.Mean, 4)
				if c.CI.OK {
					v += " " + fmtInterval(c.CI, false)
				}
				if j == 0 || math.IsNaN(c.Delta) {
					row = append(row, num(v))
					continue
				}
				d := delta(c.Delta)
				d.Text = v + " (" + d.Text + ")"
				row = append(row, d)
			}
			t.Rows = append(t.Rows, row)
		}
		return t
	}
	out = append(out, section{Title: "Per cluster", Level: 3, Notes: []string{"Mean [95% CI] (Δ baseline)."},
		Tables: []table{groupTable(e.Clusters, false)}, Plots: rep.plots("newt_clusters.svg", "newt_delta.svg")})
	out = append(out, section{Title: "Per subcluster", Level: 3, Tables: []table{groupTable(e.Subclusters, true)}})

	tasks := section{Title: "Largest per-task gains and losses", Level: 3, Plots: rep.plots("newt_tasks.svg")}
	deltaTable := func(caption string, ds []TaskDelta) table {
		t := table{Caption: caption, Head: []string{"run", "task", "cluster", "baseline", "run", "Δ"}}
		for _, d := range ds {
			t.Rows = append(t.Rows, []cell{text(d.Run), text(d.Task), text(orDash(d.Cluster)), num(fmtFloat(d.Baseline, 4)),
				num(fmtFloat(d.Value, 4)), delta(d.Gap)})
		}
		return t
	}
	if len(e.Gains) > 0 {
		tasks.Tables = append(tasks.Tables, deltaTable("Gains", e.Gains))
	}
	if len(e.Losses) > 0 {
		tasks.Tables = append(tasks.Tables, deltaTable("Losses", e.Losses))
	}
	if len(e.Gains)+len(e.Losses) == 0 {
		tasks.Notes = []string{"No task differs from the baseline."}
	}
	out = append(out, tasks, rep.taskSection())
	if s, ok := rep.evaluationsSection(); ok {
		out = append(out, s)
	}
	return out
}

// plots returns the report's plots with these file names, in this order.
func (rep *Report) plots(files ...string) []Plot {
	var out []Plot
	for _, f := range files {
		for _, p := range rep.Plots {
			if p.File == f {
				out = append(out, p)
			}
		}
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func short(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func shortCommit(c string, dirty bool) string {
	c = short(c, 10)
	if c != "" && dirty {
		c += " (dirty)"
	}
	return orDash(c)
}

// plural counts things: "1 run", "3 runs".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
