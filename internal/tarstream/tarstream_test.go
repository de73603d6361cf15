package tarstream

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/natssl/natssl/internal/tarstream/tartest"
)

func TestIsName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"shard.tar", true},
		{"SHARD.TAR", true},
		{"images.tar.gz", true},
		{"IMAGES.TAR.GZ", true},
		{"Images.Tar.Gz", true},
		{"images.tgz", true},
		{"IMAGES.TGZ", true},
		{"s3://b/train/shards-{000..031}.tar", true},
		{"/data/shards-*.tar.gz", true},
		{"images.gz", false},
		{"images.tar.bz2", false},
		{"images.targz", false},
		{"tar", false},
		{"images", false},
		{"train.json", false},
		{"photo.jpg", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsName(tt.name); got != tt.want {
				t.Errorf("IsName(%q) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

// members is an archive with what Next must pass over (a directory, a link) and names it
// must clean.
func members() []tartest.File {
	return []tartest.File{
		{Name: "images/"},
		{Name: "images/a.jpg", Data: []byte("aaa")},
		{Name: "images/link.jpg", Link: "a.jpg"},
		{Name: "./images/sub/../b.jpg", Data: bytes.Repeat([]byte("b"), 3<<20)},
		{Name: "/abs.png", Data: []byte("abs")},
		{Name: "../up.jpg", Data: nil},
	}
}

// wantNames are members' regular files as Next returns them.
var wantNames = []string{"images/a.jpg", "images/b.jpg", "abs.png", "up.jpg"}

func TestReader(t *testing.T) {
	dir := t.TempDir()
	for _, gz := range []bool{false, true} {
		archive := tartest.Bytes(t, gz, members()...)
		path := filepath.Join(dir, map[bool]string{false: "a.tar", true: "a.tar.gz"}[gz])
		if err := os.WriteFile(path, archive, 0o644); err != nil {
			t.Fatal(err)
		}
		open := map[string]func() io.Reader{
			"bytes":          func() io.Reader { return io.MultiReader(bytes.NewReader(archive)) },
			"bufio":          func() io.Reader { return bufio.NewReader(bytes.NewReader(archive)) },
			"seekable file":  func() io.Reader { f, _ := os.Open(path); t.Cleanup(func() { f.Close() }); return f },
			"one byte reads": func() io.Reader { return oneByte{bytes.NewReader(archive)} },
		}
		for how, src := range open {
			t.Run(map[bool]string{false: "plain/", true: "gzip/"}[gz]+how, func(t *testing.T) {
				r, err := NewReader(src())
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				var names []string
				for {
					h, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					names = append(names, h.Name)
					data, err := r.ReadAll()
					if err != nil {
						t.Fatal(err)
					}
					if int64(len(data)) != h.Size {
						t.Errorf("%s: read %d bytes, header says %d", h.Name, len(data), h.Size)
					}
					if h.Name == "images/b.jpg" && !bytes.Equal(data, members()[3].Data) {
						t.Errorf("%s: content differs", h.Name)
					}
				}
				if !slices.Equal(names, wantNames) {
					t.Errorf("files %q, want %q", names, wantNames)
				}
			})
		}
	}
}

// oneByte returns at most one byte a read, as a slow network stream may.
type oneByte struct{ r io.Reader }

func (o oneByte) Read(p []byte) (int, error) { return o.r.Read(p[:min(len(p), 1)]) }

// countingFile counts the bytes read through it.
type countingFile struct {
	*os.File
	n int64
}

func (c *countingFile) Read(p []byte) (int, error) {
	n, err := c.File.Read(p)
	c.n += int64(n)
	return n, err
}

// TestHeadersSeekPastData: counting the files of a plain archive on disk reads the headers,
// not the data; a gzip archive has to be read through.
func TestHeadersSeekPastData(t *testing.T) {
	dir := t.TempDir()
	for _, gz := range []bool{false, true} {
		path := filepath.Join(dir, "a.tar")
		if err := os.WriteFile(path, tartest.Bytes(t, gz, members()...), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		c := &countingFile{File: f}
		r, err := NewReader(c)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for ; ; n++ {
			if _, err := r.Next(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
		}
		r.Close()
		f.Close()
		if n != len(wantNames) {
			t.Errorf("gzip %v: %d files, want %d", gz, n, len(wantNames))
		}
		if !gz && c.n > 64<<10 {
			t.Errorf("plain: read %d bytes to count the files of a 3 MB archive; want the headers only", c.n)
		}
	}
}

func TestReaderErrors(t *testing.T) {
	whole := tartest.Bytes(t, false, members()...)
	truncated := whole[:2<<20] // inside images/b.jpg
	gzTruncated := tartest.Bytes(t, true, members()...)
	gzTruncated = gzTruncated[:len(gzTruncated)/2]
	tests := []struct {
		name    string
		archive []byte
		newErr  string // from NewReader
		readErr error  // from Next or ReadAll; nil: any error but io.EOF
	}{
		{"empty input has no files", nil, "", io.EOF},
		{"gzip magic without a gzip stream", []byte{0x1f, 0x8b, 0, 0}, "gunzip", nil},
		{"truncated inside a file", truncated, "", io.ErrUnexpectedEOF},
		{"truncated gzip", gzTruncated, "", io.ErrUnexpectedEOF},
		{"not an archive", []byte(strings.Repeat("not a tar archive ", 100)), "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tt.archive))
			if tt.newErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.newErr) {
					t.Fatalf("NewReader: %v, want %q", err, tt.newErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var last error
			for last == nil {
				if _, last = r.Next(); last == nil {
					_, last = r.ReadAll()
				}
			}
			if tt.readErr == nil {
				if last == io.EOF {
					t.Fatal("read to the end without an error")
				}
				return
			}
			if !errors.Is(last, tt.readErr) {
				t.Fatalf("got %v, want %v", last, tt.readErr)
			}
		})
	}
}

func FuzzReader(f *testing.F) {
	f.Add(tartest.Bytes(f, false, members()[:2]...))
	f.Add(tartest.Bytes(f, true, members()[:2]...))
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, archive []byte) {
		r, err := NewReader(bytes.NewReader(archive))
		if err != nil {
			return
		}
		defer r.Close()
		for {
			h, err := r.Next()
			if err != nil {
				return
			}
			if strings.HasPrefix(h.Name, "/") || h.Name == ".." || strings.HasPrefix(h.Name, "../") {
				t.Fatalf("name %q leaves the archive", h.Name)
			}
			data, err := r.ReadAll()
			if err != nil {
				return
			}
			if int64(len(data)) != h.Size {
				t.Fatalf("%s: %d bytes, header says %d", h.Name, len(data), h.Size)
			}
		}
	})
}
