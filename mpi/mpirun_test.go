package mpi

import (
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

// hangLimit is how long a job may run before the test calls it hung. It is no speed check:
// the jobs end in about a second or two, the limit only turns a hang into a failure.
const hangLimit = 90 * time.Second

// mpirunArgs are the flags the tests need on this kind of machine: root needs
// --allow-run-as-root, two cores need --oversubscribe for three ranks, and natssl's ranks run
// threads of their own, which Open MPI's default binding (one core per rank) would squeeze.
func mpirunArgs(np int) []string {
	args := []string{"--oversubscribe", "--bind-to", "none", "-np", strconv.Itoa(np)}
	if os.Geteuid() == 0 {
		args = append([]string{"--allow-run-as-root"}, args...)
	}
	return args
}

// job is the outcome of one mpirun.
type job struct {
	out  string        // stdout and stderr of mpirun and every rank
	code int           // mpirun's exit status
	took time.Duration // for the log
}

// mpirun runs this test binary's rank case under mpirun with np ranks, and extra flags.
func mpirun(t *testing.T, np int, name string, extra ...string) job {
	t.Helper()
	path, err := exec.LookPath("mpirun")
	if err != nil {
		t.Fatalf("mpirun not found (Debian: openmpi-bin): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	args := append(append(mpirunArgs(np), extra...), os.Args[0])
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), caseEnv+"="+name)
	// On a hang, SIGTERM lets mpirun take its ranks down with it.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	j := job{out: string(out), took: time.Since(start)}
	if ctx.Err() != nil {
		t.Fatalf("mpirun -np %d (%s) still running after %v: a hang\n%s", np, name, hangLimit, out)
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		j.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			j.code = 128 + int(ws.Signal())
		}
	case err != nil:
		t.Fatalf("mpirun: %v", err)
	}
	t.Logf("mpirun -np %d %s: exit %d after %v", np, name, j.code, j.took.Round(time.Millisecond))
	return j
}

// allOK fails t unless every one of np ranks ended its case well.
func (j job) allOK(t *testing.T, np int) {
	t.Helper()
	ok := j.code == 0 && !strings.Contains(j.out, ": FAIL ")
	for r := range np {
		ok = ok && strings.Contains(j.out, "rank "+strconv.Itoa(r)+": ok\n")
	}
	if !ok {
		t.Fatalf("exit %d, want every rank ok\n%s", j.code, j.out)
	}
}

// lines are the job's output lines that start with prefix.
func (j job) lines(prefix string) []string {
	var ls []string
	for _, l := range strings.Split(j.out, "\n") {
		if strings.HasPrefix(l, prefix) {
			ls = append(ls, l)
		}
	}
	return ls
}
