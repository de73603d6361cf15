package cli

import (
	"strings"
	"testing"
)

// TestSubcommandTypos: a typo in a subcommand of any group exits 2 with a suggestion, never
// help with exit 0.
func TestSubcommandTypos(t *testing.T) {
	root := newRoot(&env{Global: &globalOptions{}})
	groups := 0
	for _, c := range root.Commands() {
		if !c.HasSubCommands() || c.Hidden {
			continue
		}
		groups++
		sub := c.Commands()[0]
		typo := sub.Name()[:len(sub.Name())-1] + "x" // the last letter wrong
		t.Run(c.Name()+" "+typo, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, c.Name(), typo)
			want := `unknown command "` + typo + `" for "natssl ` + c.Name() + `"; did you mean ` + sub.Name()
			if code != 2 || !strings.Contains(stderr, want) || strings.Contains(stdout, "Usage:") {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, want)
			}
		})
	}
	if groups < 5 { // runs, config, data, bench, completion
		t.Errorf("%d groups checked, want at least 5", groups)
	}
	for _, args := range [][]string{{"runs", "delte"}, {"config", "prnt"}, {"bench", "loadr"}} {
		if code, _, stderr := runCLI(t, args...); code != 2 || !strings.Contains(stderr, "did you mean") {
			t.Errorf("%v: exit %d %q", args, code, stderr)
		}
	}
}

// TestEnvironmentVariables: a NATSSL_* variable outside the config's sections (a script's
// own) is a warning, never a failure; one of a section that sets no key is refused.
func TestEnvironmentVariables(t *testing.T) {
	t.Setenv("NATSSL_PHOTOS", "/tmp/natssl-photos")
	code, stdout, stderr := runCLI(t, "config", "validate", "--config", "smoke")
	if code != 0 || !strings.Contains(stdout, "config: ok") ||
		!strings.Contains(stderr, "natssl: warning: env NATSSL_PHOTOS: not a config variable") {
		t.Errorf("NATSSL_PHOTOS: exit %d, stdout %q, stderr %q; want ok and a warning", code, stdout, stderr)
	}
	t.Setenv("NATSSL_TRAIN_LRR", "0.1")
	code, _, stderr = runCLI(t, "config", "validate", "--config", "smoke")
	if code != 2 || !strings.Contains(stderr, "config: env NATSSL_TRAIN_LRR: unknown environment variable") ||
		!strings.Contains(stderr, "did you mean NATSSL_TRAIN_LR") {
		t.Errorf("NATSSL_TRAIN_LRR: exit %d, stderr %q", code, stderr)
	}
}

func TestSetErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"a synonym", []string{"config", "validate", "--set", "train.learning_rate=0.1"}, "train.learning_rate = \"0.1\": unknown key (did you mean train.lr?)"},
		{"a space for =", []string{"train", "--set", "train.lr", "0.1"}, `--set needs key=value, got "train.lr": write --set train.lr=VALUE`},
		{"no key", []string{"config", "print", "--set", "=3"}, `--set needs key=value, got "=3"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tt.args...)
			if code != 2 || !strings.Contains(stderr, tt.want) || strings.Contains(stderr, "unknown command") {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tt.want)
			}
		})
	}
}

// TestLaunchProblemsOneLineEach: natssl launch lists what stops a job one problem a line.
func TestLaunchProblemsOneLineEach(t *testing.T) {
	code, _, stderr := runCLI(t, "launch", "--dry-run")
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if code != 2 || len(lines) < 3 {
		t.Fatalf("exit %d, stderr %q; want 2 and a line per problem", code, stderr)
	}
	for _, l := range lines {
		if !strings.Contains(l, "sagemaker: cannot launch: ") || len(l) > 200 {
			t.Errorf("line %q: want one problem, introduced as such", l)
		}
	}
}
