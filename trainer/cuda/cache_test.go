package cuda

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var testKey = CacheKey{Source: "0123", NVRTC: "13.0", Driver: 13000, Target: "sm_90"}

func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	return m
}

func TestKernelCacheRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "natssl", "cuda") // created on first write
	c := kernelCache{dir: dir}
	if _, ok := c.read(testKey); ok {
		t.Fatal("hit in an empty cache")
	}
	img := []byte("\x7fELF cubin bytes")
	if err := c.write(testKey, img); err != nil {
		t.Fatal(err)
	}
	got, ok := c.read(testKey)
	if !ok || !bytes.Equal(got, img) {
		t.Fatalf("read %q %v, want %q", got, ok, img)
	}
	st, err := os.Stat(c.path(testKey))
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("cache file: %v %v", st, err)
	}
	other := testKey
	other.Target = "sm_80"
	if _, ok := c.read(other); ok {
		t.Error("another architecture's key hits")
	}
	if l := leftovers(t, dir); len(l) > 0 {
		t.Errorf("temporary files left: %v", l)
	}
}

// TestKernelCacheAtomic: processes compiling the same kernels at once replace the file
// whole; a reader sees one writer's image entire, never a mixture or a prefix.
func TestKernelCacheAtomic(t *testing.T) {
	c := kernelCache{dir: t.TempDir()}
	images := make([][]byte, 8)
	for i := range images {
		images[i] = bytes.Repeat([]byte{byte('a' + i)}, 1<<20)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	bad := make(chan string, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			got, ok := c.read(testKey)
			if !ok {
				continue
			}
			whole := false
			for _, img := range images {
				whole = whole || bytes.Equal(got, img)
			}
			if !whole {
				select {
				case bad <- "a reader saw a partial or mixed file":
				default:
				}
				return
			}
		}
	}()
	var writers sync.WaitGroup
	for _, img := range images {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for range 5 {
				if err := c.write(testKey, img); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	writers.Wait()
	close(stop)
	wg.Wait()
	select {
	case msg := <-bad:
		t.Fatal(msg)
	default:
	}
	if l := leftovers(t, c.dir); len(l) > 0 {
		t.Errorf("temporary files left: %v", l)
	}
}

// TestKernelCacheDamage: a half-written temporary file of an interrupted writer and an
// empty cache file are misses, and the next write replaces them.
func TestKernelCacheDamage(t *testing.T) {
	c := kernelCache{dir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(c.dir, ".tmp-"+testKey.File()+"-123"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.path(testKey), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.read(testKey); ok {
		t.Fatal("an empty file hits")
	}
	if err := c.write(testKey, []byte("whole")); err != nil {
		t.Fatal(err)
	}
	if got, ok := c.read(testKey); !ok || string(got) != "whole" {
		t.Fatalf("read %q %v", got, ok)
	}
}

// TestKernelCacheUnwritable: a cache folder that cannot be created is an error naming it,
// and leaves nothing behind.
func TestKernelCacheUnwritable(t *testing.T) {
	base := t.TempDir()
	blocker := filepath.Join(base, "natssl")
	if err := os.WriteFile(blocker, []byte("a file where the folder should be"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := kernelCache{dir: filepath.Join(blocker, "cuda")}
	err := c.write(testKey, []byte("x"))
	if err == nil || !strings.Contains(err.Error(), c.dir) {
		t.Fatalf("got %v, want an error naming %s", err, c.dir)
	}
}

func TestDefaultCacheDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/tmp/xdg-cache")
	dir, err := DefaultCacheDir()
	if err != nil || dir != "/tmp/xdg-cache/natssl/cuda" {
		t.Fatalf("DefaultCacheDir() = %q, %v", dir, err)
	}
}
