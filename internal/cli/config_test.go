package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// runCLI runs natssl in-process and returns its exit code and output streams.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestConfigCommands(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"print preset with --set", []string{"config", "print", "--config", "smoke", "--set", "train.lr=0.05"}, 0, "lr: 0.05", ""},
		{"validate smoke", []string{"config", "validate", "--config", "smoke"}, 0, "config: ok", ""},
		{"validate default without the demo data", []string{"config", "validate"}, 2, "",
			`config: default: data.source = "data/fmnist/train.json": no such file; a relative path is read from the current folder, `},
		{"validate a typo in data.source", []string{"config", "validate", "--config", "smoke", "--set", "data.source=/nonexistent/photso"}, 2, "",
			"config: --set data.source=/nonexistent/photso: data.source = \"/nonexistent/photso\": no such folder"},
		{"validate unknown key", []string{"config", "validate", "--set", "train.lrr=1"}, 2, "", "train.lrr"},
		{"validate wrong type", []string{"config", "validate", "--set", "train.steps=ten"}, 2, "", "want an integer"},
		{"unknown preset", []string{"config", "print", "--config", "nope"}, 2, "", "no embedded preset"},
		{"unknown command", []string{"frobnicate"}, 2, "", "unknown command"},
		{"unknown flag", []string{"config", "print", "--frob"}, 2, "", "unknown flag"},
		{"unknown subcommand", []string{"config", "prnt"}, 2, "", `unknown command "prnt" for "natssl config"; did you mean print?`},
		{"wrong argument count", []string{"runs", "show"}, 2, "", "accepts 1 arg(s), received 0"},
		{"extra argument", []string{"version", "now"}, 2, "", `unknown command "now" for "natssl version"`},
		{"parent alone prints help", []string{"bench"}, 0, "Available Commands:", ""},
		{"version", []string{"version"}, 0, "natssl ", ""},
		{"version names CUDA", []string{"version"}, 0, "  cuda", ""},
		{"help", []string{"--help"}, 0, "Usage:", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tt.wantCode, stderr)
			}
			if !strings.Contains(stdout, tt.wantStdout) {
				t.Errorf("stdout %q does not contain %q", stdout, tt.wantStdout)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.wantStderr)
			}
		})
	}
}

func TestConfigPrintShowsLRUnderTrain(t *testing.T) {
	code, stdout, _ := runCLI(t, "config", "print", "--config", "smoke", "--set", "train.lr=0.05")
	if code != 0 {
		t.Fatalf("exit code %d", code)
	}
	section := ""
	for _, line := range strings.Split(stdout, "\n") {
		if !strings.HasPrefix(line, " ") && strings.HasSuffix(line, ":") {
			section = strings.TrimSuffix(line, ":")
		}
		if strings.TrimSpace(line) == "lr: 0.05" {
			if section != "train" {
				t.Fatalf("lr: 0.05 printed under %q, want train", section)
			}
			return
		}
	}
	t.Fatalf("lr: 0.05 not printed:\n%s", stdout)
}
