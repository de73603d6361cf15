package trainer

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadCheckpointRefusesNonFiles: eval --checkpoint and --resume given a device, a FIFO or
// a large file that is not a checkpoint fail at once, without reading it through.
func TestReadCheckpointRefusesNonFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.ckpt")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.ckpt")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(8 << 30); err != nil { // sparse: 8 GiB that take no disk
		t.Fatal(err)
	}
	f.Close()
	for _, tt := range []struct {
		path string
		want error
	}{
		{"/dev/zero", nil},
		{fifo, nil},
		{big, ErrCorruptCheckpoint},
	} {
		done := make(chan error, 1)
		go func() { _, err := ReadCheckpoint(tt.path); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), tt.path) || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("ReadCheckpoint(%s) = %v", tt.path, err)
			}
			if tt.want == nil && !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("ReadCheckpoint(%s) = %v, want not a regular file", tt.path, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("ReadCheckpoint(%s) blocked or read on", tt.path)
		}
	}
}
