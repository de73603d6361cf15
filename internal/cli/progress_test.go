package cli

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/internal/pipeline"
	"github.com/natssl/natssl/trainer"
)

func TestRoundSteps(t *testing.T) {
	for n, want := range map[int64]int64{0: 1, 1: 1, 2: 2, 3: 5, 7: 10, 45: 50, 100: 100, 101: 200, 999: 1000, 10000: 10000} {
		if got := roundSteps(n); got != want {
			t.Errorf("roundSteps(%d) = %d, want %d", n, got, want)
		}
	}
}

// TestETA: the time left is the earlier of the schedule's end and train.time_limit.
func TestETA(t *testing.T) {
	cfg := configs.Default()
	tests := []struct {
		name       string
		limit      time.Duration
		from, step int64
		total      int64
		elapsed    time.Duration
		want       string
	}{
		{"the steps end first", 10 * time.Minute, 0, 100, 400, time.Minute, "3m0s"},
		{"the time limit ends first", 2 * time.Minute, 0, 10, 450, 116 * time.Second, "4s (time limit)"},
		{"no limit", 0, 0, 10, 450, 116 * time.Second, "1h25m4s"},
		{"resumed: the pace of this process", 0, 100, 110, 200, 10 * time.Second, "1m30s"},
		{"no step yet", 0, 100, 100, 200, 0, "?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg.Train.TimeLimit = configs.Duration(tt.limit)
			p := newTrainProgress(cfg, tt.total, tt.from, false)
			if got := p.eta(trainer.StepInfo{Step: tt.step, Total: tt.total, Elapsed: tt.elapsed}); got != tt.want {
				t.Errorf("eta %q, want %q", got, tt.want)
			}
		})
	}
}

// TestConsoleOnATerminal: on a terminal the bar is drawn, summary lines that stay on screen
// are printed every tenth of the run, a notice (Ctrl-C's) gets a line of its own after the bar
// is erased, and a stopped run ends with a final line and the command that continues it.
func TestConsoleOnATerminal(t *testing.T) {
	var out bytes.Buffer
	c := &console{w: &out, tty: true, quarter: 0.25, resume: func(id string) string { return "natssl train --resume " + id }}
	cfg := configs.Default()
	cfg.Train.LogEvery = 1
	c.RunStarted(pipeline.RunStart{RunID: "r1", Config: cfg, TotalSteps: 100})
	for step := int64(1); step <= 35; step++ {
		c.Step(trainer.StepInfo{Step: step, Total: 100, Loss: 5 - float64(step)/100, LR: 0.1, ImagesPerS: 50, Elapsed: time.Duration(step) * time.Second})
		if step == 33 {
			c.Notice("SIGINT (Ctrl-C): stopping after this step to write a checkpoint (signal again to exit at once)")
		}
	}
	c.RunFinished(pipeline.RunEnd{RunID: "r1", Status: string(experiments.StatusKilled),
		Result: &trainer.Result{Step: 35, Loss: 4.65, Checkpoint: "runs/r1/checkpoints/step-000000035.ckpt"}})
	text := out.String()
	// What stays: the lines a carriage return does not overwrite.
	var kept []string
	for _, l := range strings.Split(text, "\n") {
		if i := strings.LastIndex(l, "\r"); i >= 0 {
			l = l[i+1:]
		}
		if strings.TrimSpace(l) != "" {
			kept = append(kept, strings.TrimSpace(l))
		}
	}
	want := []*regexp.Regexp{
		regexp.MustCompile(`^natssl: run r1: `),
		regexp.MustCompile(`^step 1/100 .* loss 4\.9900 .*eta `),
		regexp.MustCompile(`^step 10/100 .* loss 4\.9000 \(mean of 9 steps 4\.9400\)`),
		regexp.MustCompile(`^step 20/100 `),
		regexp.MustCompile(`^step 30/100 `),
		regexp.MustCompile(`^natssl: SIGINT \(Ctrl-C\): stopping after this step`),
		regexp.MustCompile(`^natssl: run r1 stopped at step 35 of 100, last loss 4\.6500; checkpoint runs/r1/checkpoints/step-000000035\.ckpt$`),
		regexp.MustCompile(`^natssl: continue it with: natssl train --resume r1$`),
	}
	if len(kept) != len(want) {
		t.Fatalf("lines left on screen:\n%s\nwant %d", strings.Join(kept, "\n"), len(want))
	}
	for i, re := range want {
		if !re.MatchString(kept[i]) {
			t.Errorf("line %d %q, want %v", i, kept[i], re)
		}
	}
	if !strings.Contains(text, "% |") {
		t.Error("no bar drawn")
	}
}

// TestTrainStoppedByTimeLimit: a run stopped by train.time_limit before its first logging
// step shows the steps it did and its last loss, the same in the tracker as on the console.
func TestTrainStoppedByTimeLimit(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := runCLI(t, smokeTrainArgs(dir, "--set", "train.time_limit=1ns", "--set", "train.log_every=50",
		"--set", "train.steps=20", "--json")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	m := regexp.MustCompile(`finished \(train.time_limit reached\): 1 of 20 steps, last loss ([0-9.]+)`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no final line in:\n%s", stderr)
	}
	if !strings.Contains(stderr, "natssl: continue it with: natssl train --resume ") {
		t.Errorf("no resume command after a time limit:\n%s", stderr)
	}
	_ = stdout
	code, stdout, _ = runCLI(t, "runs", "list", "--db", dir+"/runs.db")
	f := strings.Fields(strings.Split(stdout, "\n")[1])
	if code != 0 || f[6] != "1" || f[7] != m[1] {
		t.Errorf("runs list: steps %s, last loss %s; the console said 1 step, loss %s:\n%s", f[6], f[7], m[1], stdout)
	}
	// Continued by name to its last step, the tracker follows.
	code, _, stderr = runCLI(t, smokeTrainArgs(dir, "--set", "train.log_every=50", "--set", "train.steps=20", "--resume", "smoke")...)
	if code != 0 {
		t.Fatalf("resume by name: exit %d: %s", code, stderr)
	}
	_, stdout, _ = runCLI(t, "runs", "list", "--db", dir+"/runs.db")
	if f := strings.Fields(strings.Split(stdout, "\n")[1]); f[6] != "20" || f[2] != "FINISHED" {
		t.Errorf("after the resume:\n%s", stdout)
	}
}
