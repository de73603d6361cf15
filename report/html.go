package report

import (
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"strings"

	"gonum.org/v1/plot/vg"
)

// HTML writes the report as one self-contained page: styles inline and every plot embedded as
// an SVG data URI, so that it opens anywhere without network access or the SVG files.
func (rep *Report) HTML(w io.Writer) error {
	base := rep.Runs[0]
	lead := fmt.Sprintf("%s from <code>%s</code>, generated %s UTC.\nBaseline: <strong>%s</strong> (<code>%s</code>).",
		plural(len(rep.Runs), "run"), template.HTMLEscapeString(rep.DBPath), rep.Generated.UTC().Format("2006-01-02 15:04"),
		template.HTMLEscapeString(base.Label), template.HTMLEscapeString(base.ID))
	return writePage(w, "natssl run comparison", template.HTML(lead), rep.sections())
}

// writePage writes a page of sections: a title, a lead paragraph (HTML, escaped by the caller)
// and the sections with their tables and plots.
func writePage(w io.Writer, title string, lead template.HTML, sections []section) error {
	data := struct {
		Title    string
		Lead     template.HTML
		Sections []section
	}{title, lead, sections}
	if err := pageTemplate.Execute(w, data); err != nil {
		return fmt.Errorf("report: write html: %w", err)
	}
	return nil
}

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"svgURI": func(svg []byte) template.URL {
		return template.URL("data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString(svg))
	},
	"heading": func(level int, title string) template.HTML {
		return template.HTML(fmt.Sprintf("<h%d>%s</h%d>", level, template.HTMLEscapeString(title), level))
	},
	// A plot's width and height attributes give its proportions in CSS pixels, so that the
	// page lays out before the image decodes; CSS then scales it to the page's width, up to
	// maxPx (a square scatter would otherwise fill a screen).
	"plotPx": func(l vg.Length) int { return int(l.Dots(96)) },
	"maxPx":  func(l vg.Length) int { return int(1.5 * l.Dots(96)) },
	"warn":   func(note string) bool { return strings.HasPrefix(note, "⚠") },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #1d232a; background: #fff; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 1px solid #d6dbe1; padding-bottom: .2rem; }
h3 { font-size: 1.05rem; margin-top: 1.6rem; }
p.lead { color: #55606b; margin-top: 0; }
table { border-collapse: collapse; margin: .6rem 0; font-size: .88rem; }
caption { text-align: left; font-weight: 600; padding: .2rem 0; }
th, td { border: 1px solid #d6dbe1; padding: .25rem .55rem; text-align: left; vertical-align: top; }
th { background: #f2f4f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
div.scroll { overflow-x: auto; }
td.gain { color: #005a8c; }
td.loss { color: #a33f00; font-style: italic; }
td.mark { color: #9a5b00; font-weight: 600; }
ul.notes { padding-left: 1.2rem; color: #55606b; }
ul.notes li.warn { color: #9a5b00; }
figure { margin: 1rem 0; }
figure img { width: 100%; height: auto; border: 1px solid #e3e7eb; }
figcaption { color: #55606b; font-size: .85rem; }
code { font-size: .9em; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p class="lead">{{.Lead}}</p>
{{range .Sections}}
<section>
{{heading .Level .Title}}
{{if .Notes}}<ul class="notes">{{range .Notes}}<li{{if warn .}} class="warn"{{end}}>{{.}}</li>{{end}}</ul>{{end}}
{{range .Tables}}
<div class="scroll"><table>
{{if .Caption}}<caption>{{.Caption}}</caption>{{end}}
<thead><tr>{{range .Head}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>
{{range .Rows}}<tr>{{range .}}<td{{if .Class}} class="{{.Class}}"{{end}}>{{.Text}}</td>{{end}}</tr>
{{end}}</tbody>
</table></div>
{{end}}
{{if .Marks}}<ul class="notes">{{range .Marks}}<li class="warn">{{.}}</li>{{end}}</ul>{{end}}
{{range .Plots}}
<figure class="plot" data-file="{{.File}}" style="max-width: {{maxPx .Width}}px"><img src="{{svgURI .SVG}}" width="{{plotPx .Width}}" height="{{plotPx .Height}}" alt="{{.Title}}"><figcaption>{{.Title}}</figcaption></figure>
{{end}}
</section>
{{end}}
</body>
</html>
`))
