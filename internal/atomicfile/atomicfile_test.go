package atomicfile

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// names lists dir's entries, hidden ones included, so a test sees any temporary file left.
func names(t *testing.T, dir string) []string {
	t.Helper()
	n, err := fs.Glob(os.DirFS(dir), "*")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func umask() fs.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return fs.FileMode(m)
}

func TestWriteFile(t *testing.T) {
	tests := []struct {
		name string
		old  string // "" when the file does not exist yet
		perm fs.FileMode
	}{
		{"new checkpoint", "", 0o600},
		{"new report", "", 0o644},
		{"replaces a file", "old content", 0o644},
		{"replaces a wider file with a private one", "old content", 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f.bin")
			if tt.old != "" {
				if err := os.WriteFile(path, []byte(tt.old), 0o666); err != nil {
					t.Fatal(err)
				}
			}
			data := bytes.Repeat([]byte("natssl "), 100_000) // past the write buffer
			if err := WriteFile(path, data, tt.perm); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes (%v), want %d", len(got), err, len(data))
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if want := tt.perm &^ umask(); fi.Mode().Perm() != want {
				t.Errorf("mode %v, want %v", fi.Mode().Perm(), want)
			}
			if n := names(t, dir); !slices.Equal(n, []string{"f.bin"}) {
				t.Errorf("directory holds %v, want only f.bin", n)
			}
		})
	}
}

// TestFailureKeepsOld: whatever fails, the path keeps its old content (or stays absent) and
// no temporary file is left beside it.
func TestFailureKeepsOld(t *testing.T) {
	errWrite := errors.New("disk on fire")
	tests := []struct {
		name string
		old  string
		run  func(path string) error
		is   error // the error must wrap this, when set
	}{
		{"write fails, old file kept", "old", func(p string) error {
			return Write(p, 0o644, func(w io.Writer) error {
				io.WriteString(w, strings.Repeat("x", 1<<20))
				return errWrite
			})
		}, errWrite},
		{"write fails, nothing created", "", func(p string) error {
			return Write(p, 0o644, func(io.Writer) error { return errWrite })
		}, errWrite},
		{"abandoned without commit", "old", func(p string) error {
			f, err := Create(p, 0o600)
			if err != nil {
				return err
			}
			f.Write([]byte("half a checkpoint"))
			f.Cleanup()
			return errWrite
		}, errWrite},
		{"rename fails: the path is a folder", "", func(p string) error {
			if err := os.MkdirAll(filepath.Join(p, "inside"), 0o755); err != nil {
				return err
			}
			return WriteFile(p, []byte("new"), 0o644)
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f")
			if tt.old != "" {
				if err := os.WriteFile(path, []byte(tt.old), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := tt.run(path)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not wrap %v", err, tt.is)
			}
			want := []string{}
			if tt.old != "" || tt.is == nil {
				want = []string{"f"}
			}
			if n := names(t, dir); !slices.Equal(n, want) && !(len(n) == 0 && len(want) == 0) {
				t.Errorf("directory holds %v, want %v", n, want)
			}
			if tt.old != "" {
				if got, _ := os.ReadFile(path); string(got) != tt.old {
					t.Errorf("path holds %q, want the old %q", got, tt.old)
				}
			}
		})
	}
}

func TestCreateMissingDir(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFile(filepath.Join(dir, "no", "f"), []byte("x"), 0o644); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want a not-exist error", err)
	}
	if n := names(t, dir); len(n) != 0 {
		t.Errorf("directory holds %v", n)
	}
}

// TestCopyAndName: io.Copy reaches the temporary file through ReadFrom, Name is that file
// until Commit, and Cleanup after Commit leaves the new file alone.
func TestCopyAndName(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	data := bytes.Repeat([]byte{1, 2, 3}, 1<<16)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "dst")
	f, err := Create(dst, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Cleanup()
	if filepath.Dir(f.Name()) != dir || f.Name() == dst {
		t.Errorf("temporary file %s, want one beside %s", f.Name(), dst)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if _, err := io.Copy(f, in); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dst); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s exists before Commit: %v", dst, err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := f.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (%v), want %d", len(got), err, len(data))
	}
	if n := names(t, dir); !slices.Equal(n, []string{"dst", "src"}) {
		t.Errorf("directory holds %v", n)
	}
}

func TestSyncDir(t *testing.T) {
	if err := syncDir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if err := syncDir(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want a not-exist error", err)
	}
}
