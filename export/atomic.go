package export

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/natssl/natssl/internal/atomicfile"
)

// writeFileAtomic writes what write produces to path through the project's atomic writer
// (path holds its old content or the whole new file, never a part) and returns the SHA-256
// (hex) and size of what was written.
func writeFileAtomic(path string, write func(io.Writer) error) (sum string, n int64, err error) {
	h := sha256.New()
	cw := &countWriter{}
	err = atomicfile.Write(path, 0o644, func(w io.Writer) error {
		return write(io.MultiWriter(w, h, cw))
	})
	if err != nil {
		return "", 0, fmt.Errorf("export: write %s: %w", path, unwrapPath(err))
	}
	return hex.EncodeToString(h.Sum(nil)), cw.n, nil
}

// countWriter counts the bytes written through it.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// unwrapPath drops the path an *fs.PathError or *os.LinkError names (the temporary file's,
// here, or one the message already names), keeping the cause.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
