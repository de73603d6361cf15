package trainer

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSignalCheckpoints re-runs the test binary as a training process (see TestMain),
// sends it SIGTERM once it is stepping, and checks that it wrote a checkpoint and stopped
// as cancelled within seconds.
func TestSignalCheckpoints(t *testing.T) { testSignalCheckpoints(t, "cpu") }

// testSignalCheckpoints is TestSignalCheckpoints with the child training on device.
func testSignalCheckpoints(t *testing.T, device string) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "NATSSL_TRAINER_CHILD="+dir, "NATSSL_TRAINER_CHILD_DEVICE="+device)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	var seen []string
	for lines.Scan() {
		seen = append(seen, lines.Text())
		if lines.Text() == "stepping" {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	for lines.Scan() {
		seen = append(seen, lines.Text())
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("child exit %v, output %q", err, seen)
	}
	if d := time.Since(sent); d > 30*time.Second {
		t.Errorf("child took %v to stop", d)
	}
	c, err := LatestCheckpoint(dir, nil)
	if err != nil {
		t.Fatalf("no checkpoint after SIGTERM: %v (output %q)", err, seen)
	}
	if last := seen[len(seen)-1]; !strings.HasPrefix(last, "stopped at ") || !strings.Contains(last, c.Path) {
		t.Fatalf("child said %q; newest checkpoint %s", last, c.Path)
	}
}
