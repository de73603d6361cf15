package report

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/natssl/natssl/internal/atomicfile"
)

// Format says which files Write produces.
type Format string

// The formats of `natssl report --format`.
const (
	FormatMarkdown Format = "md"
	FormatHTML     Format = "html"
	FormatBoth     Format = "both"
)

// Document is a report as natssl report prints and writes it: a comparison of runs (Report)
// or a sweep's trials (SweepReport).
type Document interface {
	// Markdown writes the report as Markdown; with plots, each plot as an image beside it.
	Markdown(w io.Writer, plots bool) error
	// HTML writes the report as one self-contained page.
	HTML(w io.Writer) error
	// Write writes the report's files into dir and returns their paths.
	Write(dir string, f Format) ([]string, error)
}

var (
	_ Document = (*Report)(nil)
	_ Document = (*SweepReport)(nil)
)

// ParseFormat checks a --format value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatMarkdown, FormatHTML, FormatBoth:
		return f, nil
	}
	return "", fmt.Errorf("report: unknown format %q (want md, html or both)", s)
}

// Write writes the report into dir (created when missing): report.md with the SVGs beside it
// for md, report.html (self-contained) for html, all of them for both. It returns the paths
// written.
func (rep *Report) Write(dir string, f Format) ([]string, error) {
	return writeReport(dir, f, rep.Markdown, rep.HTML, rep.Plots)
}

// writeReport writes a report's files into dir: its Markdown (md writes it, with plots
// referenced beside it), the plots, and its HTML page.
func writeReport(dir string, f Format, md func(io.Writer, bool) error, page func(io.Writer) error, plots []Plot) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report: create %s: %w", dir, err)
	}
	var written []string
	put := func(name string, data []byte) error {
		p := filepath.Join(dir, name)
		if err := atomicfile.WriteFile(p, data, 0o644); err != nil {
			return fmt.Errorf("report: write %s: %w", p, err)
		}
		written = append(written, p)
		return nil
	}
	if f == FormatMarkdown || f == FormatBoth {
		var b bytes.Buffer
		if err := md(&b, true); err != nil {
			return written, err
		}
		if err := put("report.md", b.Bytes()); err != nil {
			return written, err
		}
		for _, p := range plots {
			if err := put(p.File, p.SVG); err != nil {
				return written, err
			}
		}
	}
	if f == FormatHTML || f == FormatBoth {
		var b bytes.Buffer
		if err := page(&b); err != nil {
			return written, err
		}
		if err := put("report.html", b.Bytes()); err != nil {
			return written, err
		}
	}
	return written, nil
}
