package sweep

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/natssl/natssl/internal/regfile"
	"golang.org/x/sys/unix"
)

// Exec runs each trial in a child process: the natssl binary itself (os.Executable), told to
// run one trial (RunTrial) in-process. A child of its own keeps a trial's memory, its BLAS
// threads and any crash apart from the other trials and from the sweep, and needs nothing of
// the training code. With --parallel K the cores are split: the child in slot j is pinned
// (CPU affinity, inherited from the thread that starts it) to the j-th of K equal shares of the
// cores this process may use, and everything in it that counts cores (Go's GOMAXPROCS, the
// loader's workers, OpenBLAS's threads, the probe's workers) sees only its share.
type Exec struct {
	// Executable is the program to run; "" means this process's own binary.
	Executable string
	// Args are the arguments that make the program run trial n of sweep s in-process.
	Args func(s *Sweep, n int) []string
	// Env is added to the environment the child inherits.
	Env []string
	// CPUs are the cores of each slot; nil (or an empty share) leaves a child unpinned.
	CPUs [][]int
	// Grace is how long a child may take to write its checkpoint and stop after SIGTERM,
	// when the sweep is stopped, before it is killed; default two minutes.
	Grace time.Duration
}

var _ Launcher = (*Exec)(nil)

// Launch runs trial n in a child process, its output appended to <sweep dir>/trial-NNN.log,
// and waits for it. On cancellation the child gets SIGTERM (it checkpoints and stops). A child
// that fails is reported with the end of its log.
func (x *Exec) Launch(ctx context.Context, s *Sweep, n, slot int) error {
	exe := x.Executable
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("sweep: find this program to run trials: %w", err)
		}
	}
	if err := os.MkdirAll(s.Dir(), 0o755); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	logPath := filepath.Join(s.Dir(), fmt.Sprintf("trial-%03d.log", n))
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("sweep: trial %d: %w", n, err)
	}
	defer logf.Close()
	var cpus []int
	if slot < len(x.CPUs) {
		cpus = x.CPUs[slot]
	}
	fmt.Fprintf(logf, "== %s: trial %d of sweep %s, cores %v\n", time.Now().UTC().Format(time.RFC3339), n, s.ID, cpusText(cpus))
	cmd := exec.CommandContext(ctx, exe, x.Args(s, n)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), x.Env...)
	// A process group of its own: a Ctrl-C at the terminal reaches the sweep alone, which
	// passes on one SIGTERM (a second signal would make the child exit without a checkpoint).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = x.Grace
	if cmd.WaitDelay <= 0 {
		cmd.WaitDelay = 2 * time.Minute
	}
	if err := startPinned(cmd, cpus); err != nil {
		return fmt.Errorf("sweep: trial %d: start %s: %w", n, exe, err)
	}
	err = cmd.Wait()
	if err == nil {
		return nil
	}
	return fmt.Errorf("sweep: trial %d: %w: %s (log %s)", n, err, lastLine(logPath), logPath)
}

// startPinned starts cmd with the CPU affinity cpus (none: as this process). Affinity is per
// thread and a child inherits the one of the thread that forks it, so the start happens on a
// thread locked to the goroutine, pinned for the start and given its own affinity back after
// (a thread that cannot be given it back is discarded: a goroutine that ends locked takes its
// thread with it), which leaves the rest of this process as it was.
func startPinned(cmd *exec.Cmd, cpus []int) error {
	if len(cpus) == 0 {
		return cmd.Start()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		var own, set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &own); err != nil {
			errc <- fmt.Errorf("read this thread's cores: %w", err)
			return
		}
		for _, c := range cpus {
			set.Set(c)
		}
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			errc <- fmt.Errorf("pin to cores %v: %w", cpus, err)
			return
		}
		errc <- cmd.Start()
		if unix.SchedSetaffinity(0, &own) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return <-errc
}

// SplitCPUs shares the cores this process may use among k slots, in k equal runs of
// neighbouring cores (differing by one core at most where they do not divide). One slot is
// left unpinned (nil). More slots than cores is refused: a trial would share its cores.
func SplitCPUs(k int) ([][]int, error) {
	if k <= 1 {
		return nil, nil
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("sweep: read this process's cores: %w", err)
	}
	var cpus []int
	for c := range len(set) * 64 {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if k > len(cpus) {
		return nil, usage("sweep: --parallel %d: this process may use %d cores, and each trial needs one of its own", k, len(cpus))
	}
	out := make([][]int, k)
	for j := range out {
		out[j] = cpus[j*len(cpus)/k : (j+1)*len(cpus)/k]
	}
	return out, nil
}

func cpusText(cpus []int) string {
	if len(cpus) == 0 {
		return "all"
	}
	return strings.Trim(fmt.Sprint(cpus), "[]")
}

// lastLine is the last non-empty line of a log, where natssl writes why it stopped.
func lastLine(path string) string {
	f, err := regfile.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const tail = 4096
	if st, err := f.Stat(); err == nil && st.Size() > tail {
		f.Seek(st.Size()-tail, io.SeekStart)
	}
	b, _ := io.ReadAll(io.LimitReader(f, tail))
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) == 0 {
		return ""
	}
	return string(bytes.TrimSpace(lines[len(lines)-1]))
}
