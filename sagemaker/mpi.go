package sagemaker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A job of several hosts trains one model over MPI, as SageMaker's own training toolkit runs
// MPI jobs: natssl starts on every host; the first of the sorted hosts (Leader) starts mpirun
// over all of them (MPIRun), reaching the others with ssh; the others start sshd and wait
// until the leader's job has come and gone (WaitForJob). Every rank then runs natssl train
// inside the job, on its own host's /opt/ml.

// MPILaunch says what the leader starts.
type MPILaunch struct {
	Slots   int      // ranks per host: one per device
	Program []string // the command every rank runs: natssl and its arguments
	// RshAgent is how mpirun reaches the other hosts (Open MPI's plm_rsh_agent, taken from
	// OMPI_MCA_plm_rsh_agent); "" is ssh, and the hosts' sshd is waited for.
	RshAgent string
}

// MPIRun returns the leader's mpirun command line: Slots ranks on each host, the ranks of a
// host on its cores unbound, the hosts' traffic on the job's network interface, every host
// reached from the leader (no tree spawn: the workers do not ssh to each other), and the whole
// job ended when a rank fails.
func (j *Job) MPIRun(l MPILaunch) []string {
	hosts := make([]string, len(j.Hosts))
	for i, h := range j.Hosts {
		hosts[i] = h + ":" + strconv.Itoa(l.Slots)
	}
	args := []string{"mpirun"}
	if os.Geteuid() == 0 {
		args = append(args, "--allow-run-as-root")
	}
	args = append(args, "--bind-to", "none", "-np", strconv.Itoa(l.Slots*j.HostCount()), "--host", strings.Join(hosts, ","),
		"--mca", "plm_rsh_no_tree_spawn", "1", "--mca", "orte_abort_on_non_zero_status", "1")
	if l.RshAgent != "" {
		args = append(args, "--mca", "plm_rsh_agent", l.RshAgent)
	}
	if i := j.NetworkInterface; i != "" {
		args = append(args, "--mca", "btl_tcp_if_include", i, "--mca", "oob_tcp_if_include", i)
	}
	return append(args, l.Program...)
}

// sshPort is where the workers' sshd listens.
const sshPort = "22"

// WaitForSSH returns once every host but the leader accepts connections on the ssh port, or
// with an error after timeout: SageMaker starts the hosts' containers at about the same time,
// and the leader must not start mpirun before the workers' sshd listens.
func (j *Job) WaitForSSH(ctx context.Context, timeout time.Duration) error {
	end := time.Now().Add(timeout)
	for _, h := range j.Hosts[1:] {
		for {
			c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", net.JoinHostPort(h, sshPort))
			if err == nil {
				c.Close()
				break
			}
			if ctx.Err() != nil || time.Now().After(end) {
				return fmt.Errorf("sagemaker: host %s: no ssh server within %v: %w", h, timeout, err)
			}
			time.Sleep(time.Second)
		}
	}
	return nil
}

// StartSSHD starts the ssh server a worker host is reached through (Debian's openssh-server,
// with the image's keys: see the Dockerfile); stop ends it.
func StartSSHD() (stop func(), err error) {
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return nil, fmt.Errorf("sagemaker: sshd: %w", err)
	}
	cmd := exec.Command("/usr/sbin/sshd", "-D", "-e")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("sagemaker: start sshd (openssh-server): %w", err)
	}
	return func() { cmd.Process.Kill(); cmd.Wait() }, nil
}

// mpiDaemon is the process Open MPI's mpirun starts on every other host (over ssh), whose
// children are the host's ranks.
const mpiDaemon = "orted"

// WaitForJob is a worker host's part: it returns once Open MPI's daemon has started on this
// host and ended again (the leader's job over all hosts is over), looking every poll. It
// returns ctx's error if ctx ends first.
func WaitForJob(ctx context.Context, poll time.Duration) error {
	for _, want := range []bool{true, false} {
		for {
			running, err := processRunning(mpiDaemon)
			if err != nil {
				return err
			}
			if running == want {
				break
			}
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-time.After(poll):
			}
		}
	}
	return nil
}

// processRunning reports whether a process of that name runs on this machine (Linux /proc).
func processRunning(name string) (bool, error) {
	comms, err := filepath.Glob("/proc/[0-9]*/comm")
	if err != nil {
		return false, fmt.Errorf("sagemaker: list processes: %w", err)
	}
	for _, c := range comms {
		b, err := os.ReadFile(c)
		if errors.Is(err, os.ErrNotExist) {
			continue // ended meanwhile
		}
		if err == nil && strings.TrimSpace(string(b)) == name {
			return true, nil
		}
	}
	return false, nil
}

// Failure returns the failure this host's ranks wrote (a rank that failed here, or rank 0 on
// the leader telling which rank failed), or nil.
func (j *Job) Failure() error {
	b, err := os.ReadFile(j.FailurePath())
	if err != nil {
		return nil
	}
	return errors.New(strings.TrimSpace(string(b)))
}
