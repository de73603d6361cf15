package regfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadFile: regular files are read up to their limit; everything else is refused at once.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small.jpg")
	if err := os.WriteFile(small, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.jpg")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	zeroLink := filepath.Join(dir, "zero.jpg")
	if err := os.Symlink("/dev/zero", zeroLink); err != nil {
		t.Fatal(err)
	}
	smallLink := filepath.Join(dir, "link.jpg")
	if err := os.Symlink(small, smallLink); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		path  string
		limit int64
		want  error // nil: reads the 10 bytes
		words string
	}{
		{"regular file", small, 10, nil, ""},
		{"no limit", small, -1, nil, ""},
		{"symlink to a regular file", smallLink, 100, nil, ""},
		{"over the limit", small, 9, ErrTooLarge, "10 bytes, over the limit of 9"},
		{"FIFO", fifo, 100, ErrNotRegular, "a named pipe"},
		{"device", "/dev/zero", 100, ErrNotRegular, "a character device"},
		{"symlink to a device", zeroLink, -1, ErrNotRegular, "a character device"},
		{"folder", dir, 100, ErrNotRegular, "a folder"},
		{"missing", filepath.Join(dir, "nope"), 100, os.ErrNotExist, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan struct{})
			var got []byte
			var err error
			go func() { got, err = ReadFile(tt.path, tt.limit); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("ReadFile blocked") // a FIFO without a writer
			}
			if tt.want == nil {
				if err != nil || string(got) != "0123456789" {
					t.Fatalf("ReadFile = %q, %v", got, err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.words) || !strings.Contains(err.Error(), tt.path) {
				t.Fatalf("ReadFile error %v, want %v naming the path and %q", err, tt.want, tt.words)
			}
		})
	}
}

func TestLimitReader(t *testing.T) {
	for _, tt := range []struct {
		n, limit int
		ok       bool
	}{{10, 10, true}, {10, 11, true}, {11, 10, false}, {1 << 20, 1000, false}, {0, 0, true}} {
		data := bytes.Repeat([]byte{'x'}, tt.n)
		got, err := io.ReadAll(LimitReader(bytes.NewReader(data), "s3://b/k", int64(tt.limit)))
		if tt.ok && (err != nil || len(got) != tt.n) {
			t.Errorf("%d bytes, limit %d: %d bytes, %v", tt.n, tt.limit, len(got), err)
		}
		if !tt.ok && (!errors.Is(err, ErrTooLarge) || len(got) > tt.limit || !strings.Contains(err.Error(), "s3://b/k")) {
			t.Errorf("%d bytes, limit %d: %d bytes, %v; want ErrTooLarge naming the stream", tt.n, tt.limit, len(got), err)
		}
	}
}
