package loader

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/internal/tarstream/tartest"
)

// smokeDir is the repository's real Fashion-MNIST and nature JPEGs, 56 images in 5 folders.
const smokeDir = "../configs/smoke/train"

const smokeImages = 56

// file is one archive member or file to write.
type file struct {
	name string
	data []byte
}

// smokeFiles returns the smoke images as files named relative to smokeDir, sorted.
func smokeFiles(t testing.TB) []file {
	t.Helper()
	var out []file
	err := filepath.WalkDir(smokeDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !isImageName(p) {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(smokeDir, p)
		out = append(out, file{filepath.ToSlash(rel), b})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != smokeImages {
		t.Fatalf("smoke set has %d images, want %d", len(out), smokeImages)
	}
	return out
}

// tarBytes builds a tar archive of files, gzipped when gz.
func tarBytes(t testing.TB, files []file, gz bool) []byte {
	t.Helper()
	members := make([]tartest.File, len(files))
	for i, f := range files {
		members[i] = tartest.File{Name: f.name, Data: f.data}
	}
	return tartest.Bytes(t, gz, members...)
}

// writeFiles writes files under dir.
func writeFiles(t testing.TB, dir string, files []file) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readAllRecords reads every record of every shard in shard order: key -> data length.
func readAllRecords(t testing.TB, src Source) map[string]int {
	t.Helper()
	ctx := context.Background()
	out := map[string]int{}
	for _, sh := range src.Shards() {
		r, err := sh.Open(ctx)
		if err != nil {
			t.Fatalf("open shard %s: %v", sh.Name(), err)
		}
		for {
			rec, err := r.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("read shard %s: %v", sh.Name(), err)
			}
			data, err := rec.Bytes(ctx)
			if err != nil {
				t.Fatalf("load %s: %v", rec.Key, err)
			}
			if _, dup := out[rec.Key]; dup {
				t.Fatalf("key %s read twice", rec.Key)
			}
			out[rec.Key] = len(data)
		}
		r.Close()
	}
	return out
}

// testAugment is the default SimCLR recipe.
func testAugment() configs.Augment { return configs.Default().Augment }

// run reads every batch of l until io.EOF: the keys in delivery order, per batch.
func run(t testing.TB, l *Loader) (batches [][]string) {
	t.Helper()
	ctx := context.Background()
	for {
		b, err := l.Next(ctx)
		if errors.Is(err, io.EOF) {
			return batches
		}
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		batches = append(batches, append([]string(nil), b.Keys...))
		l.Release(b)
	}
}

// names returns the names of files, sorted.
func names(files []file) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.name
	}
	return sorted(out)
}

func flatten(batches [][]string) []string {
	var out []string
	for _, b := range batches {
		out = append(out, b...)
	}
	return out
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}

func newTestLoader(t testing.TB, src Source, opt Options) *Loader {
	t.Helper()
	if opt.ImageSize == 0 {
		opt.ImageSize = 16
	}
	if opt.BatchSize == 0 {
		opt.BatchSize = 8
	}
	if reflect.DeepEqual(opt.Augment, configs.Augment{}) {
		opt.Augment = testAugment()
	}
	l, err := New(context.Background(), src, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// testData is the default data section with source set.
func testData(source string) configs.Data {
	d := configs.Default().Data
	d.Source = source
	d.Root = ""
	return d
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
