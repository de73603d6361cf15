package report

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/experiments/metric"
)

// TestMarkdownEscapesNames: run, task, cluster and subcluster names and error messages reach
// report.md as text, never as HTML a Markdown renderer would pass through.
func TestMarkdownEscapesNames(t *testing.T) {
	ctx := context.Background()
	db, _ := openTestDB(t)
	defer db.Close()
	payloads := map[string]string{
		"run":        `<svg onload=alert(1)>`,
		"task":       `<iframe src="javascript:alert(2)"></iframe>`,
		"cluster":    `<img src=x onerror=alert(3)>`,
		"subcluster": `<script>alert(4)</script>`,
		"error":      `<b onmouseover=alert(5)>boom</b>`,
	}
	var ids []string
	for i, name := range []string{payloads["run"], "plain"} {
		cfg := configs.Default()
		cfg.Run.Name = name
		cfg.Model.Width += i
		yml, err := cfg.YAML()
		if err != nil {
			t.Fatal(err)
		}
		r, err := db.CreateRun(ctx, experiments.RunSpec{Name: name, ConfigYAML: string(yml), Params: cfg.Flatten(), Command: "natssl train"})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.LogMetrics(ctx, 1, map[string]float64{metric.Loss: 5}); err != nil {
			t.Fatal(err)
		}
		if err := r.Finish(ctx, experiments.StatusFailed, payloads["error"]); err != nil {
			t.Fatal(err)
		}
		evals := []experiments.Eval{{CheckpointStep: 1, Suite: "newt", Task: payloads["task"], Cluster: payloads["cluster"],
			Subcluster: payloads["subcluster"], Metric: "accuracy", Value: 0.5 + float64(i)/10}}
		if err := db.RecordEvals(ctx, r.ID(), evals); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID())
	}
	rep, err := Build(ctx, db, ids, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var md bytes.Buffer
	if err := rep.Markdown(&md, true); err != nil {
		t.Fatal(err)
	}
	out := md.String()
	for _, tag := range []string{"<svg", "<iframe", "<img", "<script", "<b "} {
		if strings.Contains(out, tag) {
			t.Errorf("report.md holds a raw %s tag:\n%s", tag, out)
		}
	}
	for what, p := range payloads {
		esc := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(p)
		if what != "subcluster" && !strings.Contains(out, esc) {
			t.Errorf("report.md lacks the %s name as text %q", what, esc)
		}
	}
}
