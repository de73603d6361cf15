package cli

import (
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// TestTrainSIGINT: Ctrl-C stops training cleanly, says so on a line of its own, prints the
// command that continues the run, and exits 130 as shells expect of an interrupted program.
func TestTrainSIGINT(t *testing.T) {
	dir := t.TempDir()
	cmd, lines, seen := startTrainChild(t, dir)
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
	var stopping, resume bool
	for _, l := range *seen {
		stopping = stopping || strings.HasPrefix(l, "natssl: SIGINT (Ctrl-C): stopping after this step")
		resume = resume || strings.HasPrefix(l, "natssl: continue it with: natssl train --resume ")
	}
	if !stopping || !resume {
		t.Errorf("stderr %q: want the stop on a line of its own and the resume command", *seen)
	}
}
