package probe

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/natssl/natssl/internal/tarstream/tartest"
)

const smokeImages = "../configs/smoke/newt/images"

// packSmoke writes the smoke suite's images into a tar (gzipped when gz) under prefix/, with
// a directory entry and a non-image file that must be skipped.
func packSmoke(t *testing.T, name, prefix string, gz bool) string {
	t.Helper()
	files := []tartest.File{{Name: prefix + "/"}, {Name: prefix + "/README.txt", Data: []byte("not an image")}}
	ents, err := os.ReadDir(smokeImages)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(smokeImages, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, tartest.File{Name: prefix + "/" + e.Name(), Data: b})
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, tartest.Bytes(t, gz, files...), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadImages(t *testing.T) {
	s, err := LoadSuite("../configs/smoke/newt/labels.csv")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(smokeImages, s.IDs[3]+".jpg"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, src string }{
		{"folder", smokeImages},
		{"tar.gz", packSmoke(t, "newt2021_images.tar.gz", "newt2021_images", true)},
		{"tar", packSmoke(t, "images.tar", "images", false)},
		{"TAR.GZ in capitals", packSmoke(t, "IMAGES.TAR.GZ", "images", true)},
		{"tgz", packSmoke(t, "images.tgz", "images", true)},
		{"TAR in capitals", packSmoke(t, "IMAGES.TAR", "images", false)},
		{"tar.gz holding a plain tar", packSmoke(t, "plain.tar.gz", "images", false)},
	} {
		t.Run(c.name, func(t *testing.T) {
			im, err := ReadImages(context.Background(), c.src, s.IDs)
			if err != nil {
				t.Fatal(err)
			}
			if len(im.Data) != s.Len() {
				t.Errorf("%d images, want %d", len(im.Data), s.Len())
			}
			if !bytes.Equal(im.Data[s.IDs[3]], want) {
				t.Errorf("image %s: %d bytes, want the file's %d", s.IDs[3], len(im.Data[s.IDs[3]]), len(want))
			}
		})
	}
}

func TestReadImagesMissing(t *testing.T) {
	ids := []string{"fmnist-test-00000", "nope-3", "nope-1", "nope-2", "nope-4", "nope-5", "nope-6"}
	for _, src := range []string{smokeImages, packSmoke(t, "x.tar.gz", "x", true)} {
		im, err := ReadImages(context.Background(), src, ids)
		var me *MissingError
		if !errors.As(err, &me) {
			t.Fatalf("%s: error %v, want a *MissingError", src, err)
		}
		if len(me.IDs) != 6 || me.IDs[0] != "nope-1" {
			t.Errorf("%s: missing %v, want the six nope-* sorted", src, me.IDs)
		}
		if !strings.Contains(err.Error(), "6 ids") || !strings.Contains(err.Error(), "nope-1, nope-2") || !strings.Contains(err.Error(), "--skip-missing") {
			t.Errorf("message %q should give the count, the first ids and the way on", err)
		}
		if len(im.Data) != 1 {
			t.Errorf("%s: %d images found, want 1", src, len(im.Data))
		}
	}
}

func TestReadImagesBadSource(t *testing.T) {
	dir := t.TempDir()
	notTar := filepath.Join(dir, "images.zip")
	os.WriteFile(notTar, []byte("PK\x03\x04"), 0o644)
	gzNotTar := filepath.Join(dir, "images.gz") // gzip, but not named as an archive
	os.WriteFile(gzNotTar, tartest.Bytes(t, true), 0o644)
	corrupt := filepath.Join(dir, "images.tar.gz")
	os.WriteFile(corrupt, []byte{0x1f, 0x8b, 8, 0, 0, 0}, 0o644)
	for _, c := range []struct{ src, want string }{
		{filepath.Join(dir, "absent"), "no such file"},
		{notTar, "neither a folder nor a .tar"},
		{gzNotTar, "neither a folder nor a .tar"},
		{corrupt, "images.tar.gz"},
	} {
		if _, err := ReadImages(context.Background(), c.src, []string{"a"}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.src, err, c.want)
		}
	}
}

// TestReadImagesOnlyInside: an id that climbs out of the images folder reads nothing there.
func TestReadImagesOnlyInside(t *testing.T) {
	dir := t.TempDir()
	images := filepath.Join(dir, "images")
	if err := os.Mkdir(images, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret.jpg"), []byte("\xff\xd8\xff private"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"../secret", "sub/../../secret", ".."} {
		im, err := ReadImages(context.Background(), images, []string{id})
		if err == nil || !strings.Contains(err.Error(), "not a plain file name") {
			t.Errorf("id %q: error %v, want a refusal", id, err)
		}
		if im != nil && len(im.Data) > 0 {
			t.Errorf("id %q read %d images from outside the folder", id, len(im.Data))
		}
	}
}

// TestNonFilesRefused: a labels CSV or a NeWT image that is a device or a FIFO is refused at
// once, naming it.
func TestNonFilesRefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "labels.csv")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "a1.jpg"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "a2.jpg")); err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		name string
		call func() error
	}{
		{"suite /dev/zero", func() error { _, err := LoadSuite("/dev/zero"); return err }},
		{"suite FIFO", func() error { _, err := LoadSuite(fifo); return err }},
		{"image FIFO", func() error { _, err := ReadImages(context.Background(), dir, []string{"a1"}); return err }},
		{"image link to /dev/zero", func() error { _, err := ReadImages(context.Background(), dir, []string{"a2"}); return err }},
	}
	for _, c := range calls {
		done := make(chan error, 1)
		go func() { done <- c.call() }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("%s: %v, want a refusal", c.name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s blocked", c.name)
		}
	}
}
