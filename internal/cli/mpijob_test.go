package cli

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mpiHangLimit is how long an mpirun may run before the test calls it hung: no speed check
// (the jobs end in seconds), it turns a hang into a failure.
const mpiHangLimit = 3 * time.Minute

// mpiJob is natssl (this test binary) run as np ranks of one mpirun.
type mpiJob struct {
	np  int
	mca []string // more mpirun flags
	env []string // more variables for every rank
	// perRank is shell run on each rank before natssl starts, with $r its rank (per-rank
	// variables: every rank gets the same arguments).
	perRank string
	args    []string // natssl's
}

// command is the mpirun command line.
func (j mpiJob) command(ctx context.Context, t *testing.T) *exec.Cmd {
	t.Helper()
	path, err := exec.LookPath("mpirun")
	if err != nil {
		t.Fatalf("mpirun not found (Debian: openmpi-bin): %v", err)
	}
	args := []string{"--oversubscribe", "--bind-to", "none", "-np", strconv.Itoa(j.np)}
	if os.Geteuid() == 0 {
		args = append([]string{"--allow-run-as-root"}, args...)
	}
	args = append(args, j.mca...)
	script := `r=$OMPI_COMM_WORLD_RANK; ` + j.perRank + `
exec "$0" "$@"`
	args = append(append(args, "sh", "-c", script, os.Args[0]), j.args...)
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(append(os.Environ(), asNatssl+"=1"), j.env...)
	// On a hang, SIGTERM lets mpirun take its ranks down with it.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// mpiResult is how an mpirun ended.
type mpiResult struct {
	out  string
	code int
}

// run runs the job to its end.
func (j mpiJob) run(t *testing.T) mpiResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), mpiHangLimit)
	defer cancel()
	cmd := j.command(ctx, t)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("mpirun -np %d still running after %v: a hang\n%s", j.np, mpiHangLimit, out)
	}
	r := mpiResult{out: string(out), code: exitStatus(t, err)}
	t.Logf("mpirun -np %d %s: exit %d after %v", j.np, strings.Join(j.args, " "), r.code, time.Since(start).Round(time.Millisecond))
	return r
}

// exitStatus is a finished command's exit code, 128+N when signal N ended it.
func exitStatus(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	t.Fatalf("mpirun: %v", err)
	return -1
}

// startUntil starts the job and returns once a line of its output contains mark, with the
// command, the lines so far and a function that reads the rest and waits for the end.
func (j mpiJob) startUntil(t *testing.T, mark string) (*exec.Cmd, func() mpiResult) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), mpiHangLimit)
	t.Cleanup(cancel)
	cmd := j.command(ctx, t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(pr)
	var seen []string
	for lines.Scan() {
		seen = append(seen, lines.Text())
		if strings.Contains(lines.Text(), mark) {
			return cmd, func() mpiResult {
				for lines.Scan() {
					seen = append(seen, lines.Text())
				}
				err := cmd.Wait()
				if ctx.Err() != nil {
					t.Fatalf("mpirun still running after %v: a hang\n%s", mpiHangLimit, strings.Join(seen, "\n"))
				}
				return mpiResult{out: strings.Join(seen, "\n"), code: exitStatus(t, err)}
			}
		}
	}
	cmd.Wait()
	t.Fatalf("the job ended before %q:\n%s", mark, strings.Join(seen, "\n"))
	return nil, nil
}

// needMpirun fails t where there is no mpirun to start natssl under: it is part of the test
// set-up (scripts/deps.sh installs it).
func needMpirun(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("mpirun"); err != nil {
		t.Fatal("no mpirun: install Debian's openmpi-bin (make test does: scripts/deps.sh)")
	}
}
