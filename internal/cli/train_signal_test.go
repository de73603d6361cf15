package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/natssl/natssl/experiments"
)

// init turns the test binary into natssl when GO_TEST_NATSSL_CHILD_ARGS holds its arguments
// (JSON; not NATSSL_*, which would be read as config),
// so that signal handling is tested on a real process without building the binary.
func init() {
	if a := os.Getenv("GO_TEST_NATSSL_CHILD_ARGS"); a != "" {
		var args []string
		if err := json.Unmarshal([]byte(a), &args); err != nil {
			panic(err)
		}
		os.Exit(Main(args, os.Stdin, os.Stdout, os.Stderr))
	}
}

// startTrainChild runs natssl train in a child process and returns it once its first step
// is done, with its stderr lines still to be read from the scanner.
func startTrainChild(t *testing.T, dir string, extra ...string) (*exec.Cmd, *bufio.Scanner, *[]string) {
	t.Helper()
	args := smokeTrainArgs(dir, append([]string{"--set", "train.steps=100000", "--set", "train.checkpoint_every=0",
		"--set", "train.log_every=1"}, extra...)...)
	enc, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GO_TEST_NATSSL_CHILD_ARGS="+string(enc))
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(errPipe)
	var seen []string
	for lines.Scan() {
		seen = append(seen, lines.Text())
		if strings.HasPrefix(lines.Text(), "step 1/") {
			return cmd, lines, &seen
		}
	}
	t.Fatalf("child ended before its first step: %q", seen)
	return nil, nil, nil
}

// TestTrainSIGTERM: one SIGTERM makes natssl train write a checkpoint, mark the run KILLED,
// say how to continue it, and exit 143 (128 + SIGTERM, as a shell reports it) within seconds.
func TestTrainSIGTERM(t *testing.T) {
	dir := t.TempDir()
	cmd, lines, seen := startTrainChild(t, dir)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	for lines.Scan() {
		*seen = append(*seen, lines.Text())
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 143 {
		t.Fatalf("exit %v, want 143; stderr %q", err, *seen)
	}
	if d := time.Since(sent); d > 30*time.Second {
		t.Errorf("took %v to stop", d)
	}
	db := openTracker(t, dir)
	runs, err := db.ListRuns(context.Background(), experiments.ListOptions{})
	if err != nil || len(runs) != 1 || runs[0].Status != experiments.StatusKilled {
		t.Fatalf("runs %+v, %v", runs, err)
	}
	cks, err := db.Checkpoints(context.Background(), runs[0].ID)
	if err != nil || len(cks) != 1 {
		t.Fatalf("checkpoints %+v, %v", cks, err)
	}
	if _, err := os.Stat(cks[0].Path); err != nil {
		t.Fatal(err)
	}
	hint := "natssl: continue it with: natssl train --resume " + runs[0].ID + " --config smoke --db "
	if !strings.Contains(strings.Join(*seen, "\n"), hint) {
		t.Errorf("no resume command %q in stderr %q", hint, *seen)
	}
	if runs[0].Steps != cks[0].Step {
		t.Errorf("the tracker says %d steps, the checkpoint %d", runs[0].Steps, cks[0].Step)
	}
}

// TestTrainSecondSignalExitsAtOnce: a second signal while the first is being handled ends
// the process at once with 130. The steps are made slow so the first one is still running.
func TestTrainSecondSignalExitsAtOnce(t *testing.T) {
	dir := t.TempDir()
	cmd, lines, seen := startTrainChild(t, dir, "--set", "data.image_size=48", "--set", "model.width=16")
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() {
		*seen = append(*seen, lines.Text())
		if strings.Contains(lines.Text(), "signal again to exit at once") {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() {
		*seen = append(*seen, lines.Text())
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("exit %v, want 130; stderr %q", err, *seen)
	}
	if _, err := os.Stat(filepath.Join(dir, "runs.db")); err != nil {
		t.Fatal(err)
	}
}
