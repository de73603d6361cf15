package atomicfile

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/google/renameio/v2"
)

// File is the new content of one path, held in a temporary file beside it until Commit.
type File struct {
	pending *renameio.PendingFile
	path    string
}

// Create starts a new content for path. The temporary file is created in path's directory
// with perm less the umask, as os.WriteFile does; the path keeps its old content, if any,
// until Commit. Defer Cleanup: it removes the temporary file unless Commit has replaced path.
func Create(path string, perm fs.FileMode) (*File, error) {
	p, err := renameio.NewPendingFile(path, renameio.WithTempDir(filepath.Dir(path)), renameio.WithPermissions(perm))
	if err != nil {
		return nil, err
	}
	return &File{pending: p, path: path}, nil
}

// Write writes to the temporary file.
func (f *File) Write(b []byte) (int, error) { return f.pending.Write(b) }

// ReadFrom copies r into the temporary file; io.Copy uses it, so that a copy between files
// can stay inside the kernel.
func (f *File) ReadFrom(r io.Reader) (int64, error) { return f.pending.ReadFrom(r) }

// Name returns the temporary file's path, for a writer that needs a name rather than an
// io.Writer (SQLite's VACUUM INTO).
func (f *File) Name() string { return f.pending.Name() }

// Commit fsyncs the temporary file, closes it, renames it over the path and fsyncs the
// directory. On failure the path keeps its old content and the temporary file is removed.
func (f *File) Commit() error {
	if err := f.pending.CloseAtomicallyReplace(); err != nil {
		f.pending.Cleanup()
		return err
	}
	return syncDir(filepath.Dir(f.path))
}

// Cleanup closes and removes the temporary file unless Commit has renamed it into place.
func (f *File) Cleanup() error { return f.pending.Cleanup() }

// WriteFile replaces path's content with data (perm less the umask for a new file).
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write replaces path's content with what write writes to w (buffered). When write fails, its
// error is returned as it is and path keeps its old content.
func Write(path string, perm fs.FileMode, write func(w io.Writer) error) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Cleanup()
	bw := bufio.NewWriterSize(f, 256<<10)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Commit()
}

// syncDir makes a rename in dir durable. A file system that cannot fsync a directory says so
// with EINVAL (or ENOTSUP); there the rename is as durable as it can be made.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		return nil
	}
	return err
}
