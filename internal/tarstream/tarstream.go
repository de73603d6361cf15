package tarstream

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/klauspost/compress/gzip"
)

// exts are the endings of tar archive names, lower case.
var exts = []string{".tar", ".tar.gz", ".tgz"}

// IsName reports whether name names a tar archive: it ends in .tar, .tar.gz or .tgz, in any
// letter case (SHARD.TAR.GZ as well as shard.tar.gz). A pattern such as
// shards-{000..031}.tar names archives too.
func IsName(name string) bool {
	n := strings.ToLower(name)
	for _, e := range exts {
		if strings.HasSuffix(n, e) {
			return true
		}
	}
	return false
}

// bufSize is the read buffer put in front of a reader that has none, and of gzip's input.
const bufSize = 256 << 10

// Reader reads the regular files of one archive in stored order.
type Reader struct {
	tr   *tar.Reader
	gz   *gzip.Reader
	size int64 // of the current file
}

// NewReader reads an archive from r, gunzipping it when it starts with the gzip magic.
//
// Give it a buffered reader (a *bufio.Reader is used as it is) to read file data. Give it an
// unbuffered io.ReadSeeker (an *os.File) to read headers only: in a plain archive, tar then
// seeks past the data of the files that are not read instead of reading it.
func NewReader(r io.Reader) (*Reader, error) {
	if s, ok := r.(io.ReadSeeker); ok {
		if rd, ok, err := newSeeking(s); ok || err != nil {
			return rd, err
		}
	}
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, bufSize)
	}
	head, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if !isGzip(head) {
		return &Reader{tr: tar.NewReader(br)}, nil
	}
	gz, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	return &Reader{tr: tar.NewReader(gz), gz: gz}, nil
}

// newSeeking reads the magic of a seekable stream and seeks back; ok is false when s cannot
// seek after all (a pipe behind an *os.File), and nothing has been read then.
func newSeeking(s io.ReadSeeker) (rd *Reader, ok bool, err error) {
	pos, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, false, nil
	}
	var head [2]byte
	n, err := io.ReadFull(s, head[:])
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, true, err
	}
	if _, err := s.Seek(pos, io.SeekStart); err != nil {
		return nil, true, err
	}
	if !isGzip(head[:n]) {
		return &Reader{tr: tar.NewReader(s)}, true, nil
	}
	gz, err := gzip.NewReader(bufio.NewReaderSize(s, bufSize))
	if err != nil {
		return nil, true, fmt.Errorf("gunzip: %w", err)
	}
	return &Reader{tr: tar.NewReader(gz), gz: gz}, true, nil
}

func isGzip(head []byte) bool { return len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b }

// Next advances to the next regular file and returns its header, or io.EOF after the last.
// Directories, links and other entries are passed over. The header's Name is cleaned to a
// relative slash path that stays inside the archive ("./a/../b.jpg" and "/b.jpg" are "b.jpg").
func (r *Reader) Next() (*tar.Header, error) {
	for {
		h, err := r.tr.Next()
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		h.Name = strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		r.size = h.Size
		return h, nil
	}
}

// Read reads from the current file.
func (r *Reader) Read(p []byte) (int, error) { return r.tr.Read(p) }

// ReadAll reads the current file whole. It allocates what the header promises only up to
// 1 MB ahead of the data actually read, so a damaged header cannot cost gigabytes before the
// data turns out to be missing; a file shorter than its header says is io.ErrUnexpectedEOF.
func (r *Reader) ReadAll() ([]byte, error) {
	n := r.size
	buf := make([]byte, 0, min(n, 1<<20))
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, int(min(n-int64(len(buf)), int64(cap(buf)))))
		}
		k, err := r.tr.Read(buf[len(buf):min(int64(cap(buf)), n)])
		buf = buf[:len(buf)+k]
		if err == io.EOF && int64(len(buf)) < n {
			return nil, io.ErrUnexpectedEOF
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
	}
	return buf, nil
}

// Close releases the decompressor. It does not close the reader NewReader was given.
func (r *Reader) Close() error {
	if r.gz != nil {
		return r.gz.Close()
	}
	return nil
}
