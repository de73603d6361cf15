package experiments

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/natssl/natssl/experiments/metric"
)

// smallDisk mounts a tmpfs of size bytes for the test and returns its folder; it skips the
// test where mounting is not allowed (not root, no tmpfs).
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a %s tmpfs (%v: %s)", size, err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file until the disk of dir is full.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// TestFullDiskRunNotLeftRunning: when the disk under the database fills up, logging fails
// with one line, and finishing the run still records it FAILED, saying what was lost.
func TestFullDiskRunNotLeftRunning(t *testing.T) {
	dir := smallDisk(t, "3m")
	ctx := context.Background()
	path := filepath.Join(dir, "natssl.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r, err := db.CreateRun(ctx, RunSpec{Name: "full", Command: "natssl train"})
	if err != nil {
		t.Fatal(err)
	}
	for step := int64(1); step <= 50; step++ { // a working WAL, as a run has by then
		if err := r.LogMetrics(ctx, step, map[string]float64{metric.Loss: 1, metric.LR: 0.1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	fill(t, dir)
	var logErr error
	for step := int64(51); step <= 20000 && logErr == nil; step++ {
		logErr = r.LogMetrics(ctx, step, map[string]float64{metric.Loss: 1, metric.LR: 0.1, "extra/a": 1, "extra/b": 2})
	}
	if logErr == nil {
		logErr = r.Flush(ctx)
	}
	if logErr == nil || strings.Contains(logErr.Error(), "\n") || !strings.Contains(logErr.Error(), "full") {
		t.Fatalf("logging on a full disk: %v, want one line saying the disk is full", logErr)
	}
	ferr := r.Finish(ctx, StatusFailed, logErr.Error())
	if ferr == nil || strings.Contains(ferr.Error(), "\n") || !strings.Contains(ferr.Error(), "marked FAILED") {
		t.Errorf("Finish on a full disk: %v, want one line saying the run is marked FAILED and what was lost", ferr)
	}
	runs, err := db.ListRuns(ctx, ListOptions{})
	if err != nil || len(runs) != 1 || runs[0].Status != StatusFailed {
		t.Fatalf("after Finish on a full disk: %+v, %v; want the run FAILED", runs, err)
	}
}
