package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/natssl/natssl/configs"
)

func TestReportCommand(t *testing.T) {
	path, ids := trackerFixture(t)
	out := filepath.Join(t.TempDir(), "cmp")

	code, stdout, stderr := runCLI(t, "report", ids["good"][:7], ids["broken"][:7], "--out", out, "--db", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		files = append(files, e.Name())
	}
	sort.Strings(files)
	want := []string{"images_per_s.svg", "loss.svg", "newt_clusters.svg", "report.html", "report.md"}
	if strings.Join(files, " ") != strings.Join(want, " ") {
		t.Errorf("files %v, want %v (no per-task scatter: the second run has no evaluation)", files, want)
	}
	if !strings.Contains(stdout, filepath.Join(out, "report.html")) {
		t.Errorf("stdout does not list the files written: %q", stdout)
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"Baseline: **good**", "⚠ broken: failed: loss is NaN at step 20", "![Training loss against step](loss.svg)"} {
		if !strings.Contains(string(md), w) {
			t.Errorf("report.md lacks %q", w)
		}
	}

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout []string
		wantStderr string
	}{
		{"markdown to stdout", []string{"report", ids["good"], ids["crashed"]}, 0,
			[]string{"# natssl run comparison", "RUNNING (stale)", "| crashed | not evaluated |"}, ""},
		{"all, baseline chosen", []string{"report", "--all", "--baseline", ids["broken"][:8]}, 0,
			[]string{"Baseline: **broken**", "| good |", "| crashed |"}, ""},
		{"name pattern", []string{"report", "--name", "c*"}, 0, []string{"Baseline: **crashed**"}, ""},
		{"html to stdout", []string{"report", ids["good"], "--format", "html"}, 0, []string{"<!DOCTYPE html>", "data:image/svg"}, ""},
		{"full config", []string{"report", ids["good"], ids["broken"], "--full"}, 0, []string{fmt.Sprintf("All %d keys.", len(configs.Default().Flatten())), "| train.optimizer |"}, ""},
		{"unknown run", []string{"report", ids["good"], "0000dead"}, 2, nil, `run "0000dead"`},
		{"no match", []string{"report", "--name", "zzz*"}, 1, nil, `no run in`},
		{"no runs given", []string{"report"}, 2, nil, "no runs given"},
		{"bad format", []string{"report", ids["good"], "--format", "pdf"}, 2, nil, `unknown format "pdf"`},
		{"both needs out", []string{"report", ids["good"], "--format", "both"}, 2, nil, "--format both needs --out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append(tt.args, "--db", path)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.wantCode, stderr)
			}
			for _, w := range tt.wantStdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%.3000s", w, stdout)
				}
			}
			if !strings.Contains(stderr, tt.wantStderr) || tt.wantCode != 0 && strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr %q, want one line with %q", stderr, tt.wantStderr)
			}
		})
	}
}
