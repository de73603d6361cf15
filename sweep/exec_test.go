package sweep

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/natssl/natssl/experiments"
)

func TestSplitCPUs(t *testing.T) {
	n := runtime.NumCPU()
	if got, err := SplitCPUs(1); got != nil || err != nil {
		t.Errorf("one slot: %v, %v; want it unpinned", got, err)
	}
	slots, err := SplitCPUs(n)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, s := range slots {
		if len(s) != 1 || seen[s[0]] {
			t.Fatalf("%d slots of %d cores: %v, want one core each", n, n, slots)
		}
		seen[s[0]] = true
	}
	var ue *UsageError
	if _, err := SplitCPUs(n + 1); !errors.As(err, &ue) || !strings.Contains(err.Error(), "--parallel") {
		t.Errorf("more slots than cores: error %v", err)
	}
}

// TestStartPinned: the child started for a slot runs on that slot's cores only, and this
// process keeps all of its own.
func TestStartPinned(t *testing.T) {
	slots, err := SplitCPUs(runtime.NumCPU())
	if err != nil || len(slots) < 2 {
		t.Skipf("needs two cores to pin to one: %v", err)
	}
	last := slots[len(slots)-1]
	cmd := exec.Command("grep", "Cpus_allowed_list", "/proc/self/status")
	var out strings.Builder
	cmd.Stdout = &out
	if err := startPinned(cmd, last); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(strings.TrimPrefix(out.String(), "Cpus_allowed_list:")); got != cpusText(last) {
		t.Errorf("child runs on cores %q, want %q", got, cpusText(last))
	}
	time.Sleep(10 * time.Millisecond) // the starting goroutine gives its thread its cores back
	tasks, _ := filepath.Glob("/proc/self/task/*/status")
	for _, p := range tasks {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), "Cpus_allowed_list:\t"+cpusText(last)+"\n") {
			t.Errorf("thread %s of this process was left pinned", p)
		}
	}
}

// TestExecLaunch: a child's output goes to the trial's log, a failure is reported with the
// log's last line, and a stopped sweep sends the child SIGTERM.
func TestExecLaunch(t *testing.T) {
	dir := t.TempDir()
	s := &Sweep{Sweep: &experiments.Sweep{ID: "0123456789abcdef"}}
	s.Base = defaults().Clone()
	s.Base.Run.OutDir = dir
	script := func(body string) *Exec {
		return &Exec{Executable: "/bin/sh", Args: func(*Sweep, int) []string { return []string{"-c", body} }, Grace: 5 * time.Second}
	}
	ctx := context.Background()
	if err := script("echo training; echo natssl: data.source x does not exist >&2; exit 1").Launch(ctx, s, 3, 0); err == nil ||
		!strings.Contains(err.Error(), "natssl: data.source x does not exist") || !strings.Contains(err.Error(), "trial-003.log") {
		t.Errorf("failed child: error %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(s.Dir(), "trial-003.log"))
	if !strings.Contains(string(b), "training\n") || !strings.Contains(string(b), "trial 3 of sweep 0123456789abcdef") {
		t.Errorf("log:\n%s", b)
	}
	if err := script("exit 0").Launch(ctx, s, 4, 0); err != nil {
		t.Errorf("a child that succeeds: %v", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	err := script(`trap 'echo stopping on TERM; exit 0' TERM; sleep 30 & wait`).Launch(ctx, s, 5, 0)
	b, _ = os.ReadFile(filepath.Join(s.Dir(), "trial-005.log"))
	if time.Since(start) > 4*time.Second || !strings.Contains(string(b), "stopping on TERM") {
		t.Errorf("stopped after %v (error %v), log:\n%s; want the child to get SIGTERM at once", time.Since(start), err, b)
	}
}
