// Package tartest builds small tar archives in memory for tests, as testing/fstest builds
// file systems. Only tests import it.
package tartest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"
)

// File is one member of an archive: a regular file, a directory when Name ends in "/", or a
// symbolic link to Link when Link is set.
type File struct {
	Name string
	Data []byte
	Link string
}

// Bytes returns a tar archive of files in the order given, gzip-compressed when gz.
func Bytes(t testing.TB, gz bool, files ...File) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	tw := tar.NewWriter(w)
	for _, f := range files {
		h := &tar.Header{Name: f.Name, Mode: 0o644, Size: int64(len(f.Data)), Typeflag: tar.TypeReg}
		switch {
		case f.Link != "":
			h = &tar.Header{Name: f.Name, Mode: 0o777, Typeflag: tar.TypeSymlink, Linkname: f.Link}
		case strings.HasSuffix(f.Name, "/"):
			h = &tar.Header{Name: f.Name, Mode: 0o755, Typeflag: tar.TypeDir}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.Data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}
