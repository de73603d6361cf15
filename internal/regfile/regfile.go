package regfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

var (
	// ErrNotRegular: the path names something other than a regular file (after symbolic
	// links): a FIFO, a device, a socket, a folder.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge: the file holds more bytes than the caller's limit.
	ErrTooLarge = errors.New("file too large")
)

// Open opens path for reading if it is a regular file. The open itself never blocks: a FIFO
// is opened without waiting for a writer, then refused with ErrNotRegular (in an
// *fs.PathError), as are devices, sockets and folders.
func Open(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, kind(st.Mode()))}
	}
	// Reads of a regular file do not honour O_NONBLOCK; it is cleared all the same, so that
	// the descriptor behaves as os.Open's would.
	if err := setBlocking(f); err != nil {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return f, nil
}

// ReadFile reads the regular file path whole, refusing it with ErrTooLarge (in an
// *fs.PathError naming its size and the limit) when it holds more than limit bytes; limit < 0
// means no limit.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadAll(f, path, limit)
}

// ReadAll reads f (opened by Open) whole, as ReadFile does; name is for messages.
func ReadAll(f *os.File, name string, limit int64) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if limit >= 0 && size > limit {
		return nil, tooLarge(name, size, limit)
	}
	// A file that grows while it is read is still held to the limit.
	r := io.Reader(f)
	if limit >= 0 {
		r = io.LimitReader(f, limit+1)
	}
	buf := make([]byte, 0, size+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: name, Err: err}
		}
	}
	if limit >= 0 && int64(len(buf)) > limit {
		return nil, tooLarge(name, int64(len(buf)), limit)
	}
	return buf, nil
}

func tooLarge(name string, size, limit int64) error {
	return &fs.PathError{Op: "read", Path: name, Err: fmt.Errorf("%w: %d bytes, over the limit of %d", ErrTooLarge, size, limit)}
}

// LimitReader returns a reader of r that fails with ErrTooLarge once more than limit bytes
// arrive, for streams whose size is not known in advance (an S3 body); name is for messages.
func LimitReader(r io.Reader, name string, limit int64) io.Reader {
	return &limited{r: r, name: name, limit: limit}
}

type limited struct {
	r     io.Reader
	name  string
	limit int64
	n     int64 // bytes read so far
}

func (l *limited) Read(p []byte) (int, error) {
	if l.n > l.limit {
		return 0, l.err()
	}
	if rem := l.limit + 1 - l.n; int64(len(p)) > rem {
		p = p[:rem] // one byte past the limit tells a stream that is too long
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.limit {
		return n - int(l.n-l.limit), l.err()
	}
	return n, err
}

func (l *limited) err() error {
	return &fs.PathError{Op: "read", Path: l.name, Err: fmt.Errorf("%w: over the limit of %d bytes", ErrTooLarge, l.limit)}
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "mode " + m.String()
}

// setBlocking clears O_NONBLOCK without the side effects of File.Fd.
func setBlocking(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.SetNonblock(int(fd), false) }); err != nil {
		return err
	}
	return serr
}
