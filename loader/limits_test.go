package loader

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/natssl/natssl/configs"
)

// hostileFiles are files with image names that must be skipped without harm: a link to
// /dev/zero (endless), a FIFO (an open that waits for a writer forever) and a file over
// data.max_image_bytes; limit is that cap.
const hostileLimit = 1 << 20

func hostileJPEG() []byte { return append([]byte{0xFF, 0xD8, 0xFF}, make([]byte, 2*hostileLimit)...) }

// epochWithin reads one epoch of l or fails the test after d: a read that blocks never ends.
func epochWithin(t *testing.T, l *Loader, d time.Duration) []string {
	t.Helper()
	type result struct {
		keys []string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var keys []string
		for {
			b, err := l.Next(context.Background())
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				done <- result{keys, err}
				return
			}
			keys = append(keys, b.Keys...)
			l.Release(b)
		}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.keys
	case <-time.After(d):
		t.Fatalf("the epoch did not end within %v: a read blocked", d)
		return nil
	}
}

// TestHostileFilesSkipped: in a folder source, a .jpg link to /dev/zero, a .jpg FIFO and a
// .jpg over data.max_image_bytes are skipped and counted (not_regular, too_large) without
// blocking or reading them, and every good image is delivered.
func TestHostileFilesSkipped(t *testing.T) {
	dir := t.TempDir()
	files := smokeFiles(t)
	writeFiles(t, dir, files)
	bad := filepath.Join(dir, "zz_bad")
	if err := os.Mkdir(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(bad, "zero.jpg")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(bad, "fifo.jpg"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "big.jpg"), hostileJPEG(), 0o644); err != nil {
		t.Fatal(err)
	}
	d := testData(dir)
	d.MaxImageBytes = hostileLimit
	src, err := Open(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	l := newTestLoader(t, src, Options{Seed: 1, Epochs: 1})
	got := epochWithin(t, l, 30*time.Second)
	if !slices.Equal(sorted(got), names(files)) {
		t.Errorf("delivered %d images, want the %d good ones", len(got), len(files))
	}
	st := l.Stats()
	if st.Skipped[SkipNotRegular] != 2 || st.Skipped[SkipTooLarge] != 1 {
		t.Errorf("skipped %v, want not_regular 2 and too_large 1", st.Skipped)
	}
}

// TestTooLargeMembersAndObjects: an archive member and an S3 object over data.max_image_bytes
// are skipped as too_large; the others are read.
func TestTooLargeMembersAndObjects(t *testing.T) {
	files := smokeFiles(t)[:6]
	withBig := append(append([]file(nil), files...), file{"cls_z/big.jpg", hostileJPEG()})

	// read reads one epoch of d, capped, and checks that all but the big image came.
	read := func(t *testing.T, d configs.Data) {
		d.MaxImageBytes = hostileLimit
		src, err := Open(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		l := newTestLoader(t, src, Options{Seed: 1, Epochs: 1, BatchSize: 2})
		if got := epochWithin(t, l, 30*time.Second); !slices.Equal(sorted(got), names(files)) {
			t.Errorf("delivered %v, want %v", sorted(got), names(files))
		}
		if st := l.Stats(); st.Skipped[SkipTooLarge] != 1 {
			t.Errorf("skipped %v, want too_large 1", st.Skipped)
		}
	}
	t.Run("tar", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "shard.tar")
		if err := os.WriteFile(p, tarBytes(t, withBig, false), 0o644); err != nil {
			t.Fatal(err)
		}
		read(t, testData(p))
	})
	t.Run("s3", func(t *testing.T) {
		s := newFakeS3(t, nil)
		for _, f := range withBig {
			s.put(t, "train/"+f.name, f.data)
		}
		read(t, s.data("s3://data/train"))
	})
	t.Run("manifest in a FIFO", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "train.json")
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := Open(context.Background(), testData(p)); done <- err }()
		select {
		case err := <-done:
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte("not a regular file")) {
				t.Errorf("Open(FIFO manifest) = %v, want a refusal", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("opening a FIFO manifest blocked")
		}
	})
}
