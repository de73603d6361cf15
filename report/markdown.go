package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Markdown writes the report as Markdown. With plots true, each plot is referenced as an image
// beside the file (Write puts the SVGs there); without, plots are left out (for a terminal).
func (rep *Report) Markdown(w io.Writer, plots bool) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# natssl run comparison\n\n")
	fmt.Fprintf(bw, "%s from %s, generated %s UTC. Baseline: **%s** (`%s`).\n",
		plural(len(rep.Runs), "run"), mdEscape(rep.DBPath), rep.Generated.UTC().Format("2006-01-02 15:04"), mdEscape(rep.Runs[0].Label), mdEscape(rep.Runs[0].ID))
	writeMDSections(bw, rep.sections(), plots)
	return bw.Flush()
}

// writeMDSections writes sections as Markdown; with plots, each plot as an image beside the
// file.
func writeMDSections(bw *bufio.Writer, sections []section, plots bool) {
	for _, s := range sections {
		fmt.Fprintf(bw, "\n%s %s\n", strings.Repeat("#", s.Level), mdEscape(s.Title))
		if len(s.Notes) > 0 {
			bw.WriteString("\n")
			for _, n := range s.Notes {
				if len(s.Notes) > 1 {
					bw.WriteString("- ")
				}
				bw.WriteString(mdEscape(n) + "\n")
			}
		}
		for _, t := range s.Tables {
			bw.WriteString("\n")
			if t.Caption != "" {
				fmt.Fprintf(bw, "**%s**\n\n", mdEscape(t.Caption))
			}
			writeMDTable(bw, t)
		}
		if len(s.Marks) > 0 {
			bw.WriteString("\n")
			for _, m := range s.Marks {
				bw.WriteString("- " + mdEscape(m) + "\n")
			}
		}
		if plots {
			for _, p := range s.Plots {
				fmt.Fprintf(bw, "\n![%s](%s)\n", mdEscape(p.Title), p.File)
			}
		}
	}
}

func writeMDTable(w *bufio.Writer, t table) {
	w.WriteString("|")
	for _, h := range t.Head {
		w.WriteString(" " + mdEscape(h) + " |")
	}
	w.WriteString("\n|")
	for i := range t.Head {
		align := "---"
		if len(t.Rows) > 0 && i < len(t.Rows[0]) && strings.Contains(t.Rows[0][i].Class, "num") {
			align = "--:"
		}
		w.WriteString(" " + align + " |")
	}
	w.WriteString("\n")
	for _, row := range t.Rows {
		w.WriteString("|")
		for _, c := range row {
			w.WriteString(" " + mdEscape(c.Text) + " |")
		}
		w.WriteString("\n")
	}
}

// mdEscape keeps a value (a run, task or cluster name, an error message) text: HTML's
// special characters escaped as the HTML report escapes them, since Markdown renderers pass
// raw HTML through; pipes escaped and line breaks flattened, so that it stays in one table
// cell.
func mdEscape(s string) string { return mdEscaper.Replace(s) }

var mdEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "|", `\|`, "\r", " ", "\n", " ")
