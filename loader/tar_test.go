package loader

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeShards splits files into n archives shards-000.tar... (gzipped when gz) under dir.
func writeShards(t testing.TB, dir string, files []file, n int, gz bool) string {
	t.Helper()
	ext := ".tar"
	if gz {
		ext = ".tar.gz"
	}
	for i := range n {
		var part []file
		for j := i; j < len(files); j += n {
			part = append(part, files[j])
		}
		name := filepath.Join(dir, fmt.Sprintf("shards-%03d%s", i, ext))
		if err := os.WriteFile(name, tarBytes(t, part, gz), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, fmt.Sprintf("shards-{000..%03d}%s", n-1, ext))
}

func TestTarSourcesReadEveryMember(t *testing.T) {
	files := smokeFiles(t)
	want := map[string]int{}
	for _, f := range files {
		want[f.name] = len(f.data)
	}
	cases := []struct {
		name   string
		shards int
		gz     bool
		glob   bool
	}{
		{"one plain archive", 1, false, false},
		{"one gzip archive", 1, true, false},
		{"brace range of 4 plain shards", 4, false, false},
		{"brace range of 3 gzip shards", 3, true, false},
		{"glob over 5 gzip shards", 5, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			pattern := writeShards(t, dir, files, c.shards, c.gz)
			if c.glob {
				pattern = filepath.Join(dir, "shards-*.tar.gz")
			}
			if c.shards == 1 {
				pattern = strings.ReplaceAll(pattern, "{000..000}", "000")
			}
			src, err := Open(context.Background(), testData(pattern))
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			if got := len(src.Shards()); got != c.shards {
				t.Errorf("%d shards, want %d", got, c.shards)
			}
			got := readAllRecords(t, src)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("read %d members, want the %d written", len(got), len(want))
			}
			if n, err := src.Len(context.Background()); err != nil || n != int64(len(files)) {
				t.Errorf("Len = %d, %v; want %d", n, err, len(files))
			}
		})
	}
}

// TestTarNamesInAnyCase: data.source names an archive by its ending in any letter case, and
// the content, not the name, says whether it is gzip.
func TestTarNamesInAnyCase(t *testing.T) {
	files := smokeFiles(t)[:6]
	for _, c := range []struct {
		name string
		gz   bool
	}{
		{"SHARD.TAR", false},
		{"Shard.Tar.Gz", true},
		{"SHARD.TGZ", true},
		{"shard.tgz", true},
		{"plain-named.tar.gz", false}, // misnamed: read as what it is
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), c.name)
			if err := os.WriteFile(p, tarBytes(t, files, c.gz), 0o644); err != nil {
				t.Fatal(err)
			}
			src, err := Open(context.Background(), testData(p))
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			if _, ok := src.(*TarSource); !ok {
				t.Fatalf("opened as %T, want *TarSource", src)
			}
			if got := readAllRecords(t, src); len(got) != len(files) {
				t.Errorf("read %d members, want %d", len(got), len(files))
			}
		})
	}
}

func TestTarThroughTheLoader(t *testing.T) {
	dir := t.TempDir()
	files := smokeFiles(t)
	// An archive also holds things that are not samples: a folder, a label file.
	files = append(files, file{"README.txt", []byte("not a sample")})
	pattern := writeShards(t, dir, files, 3, true)
	src, err := Open(context.Background(), testData(pattern))
	if err != nil {
		t.Fatal(err)
	}
	l := newTestLoader(t, src, Options{Seed: 2, Epochs: 1, ShuffleBuffer: 20})
	if keys, want := sorted(flatten(run(t, l))), names(smokeFiles(t)); !slices.Equal(keys, want) {
		t.Errorf("loader over tar shards delivered %d keys, want %d", len(keys), len(want))
	}
}

func TestTruncatedArchiveKeepsWhatCameBefore(t *testing.T) {
	dir := t.TempDir()
	files := smokeFiles(t)[:10]
	whole := tarBytes(t, files, false)
	good := filepath.Join(dir, "a.tar")
	os.WriteFile(good, tarBytes(t, smokeFiles(t)[10:20], false), 0o644)
	cut := filepath.Join(dir, "b.tar")
	os.WriteFile(cut, whole[:len(whole)/2], 0o644) // cut in the middle of a member
	src, err := Open(context.Background(), testData(filepath.Join(dir, "*.tar")))
	if err != nil {
		t.Fatal(err)
	}
	l := newTestLoader(t, src, Options{Seed: 2, Epochs: 1})
	keys := flatten(run(t, l))
	if len(keys) < 10 || len(keys) >= 20 {
		t.Errorf("delivered %d samples, want the 10 of the good shard plus the complete members before the cut", len(keys))
	}
	if st := l.Stats(); st.Skipped[SkipUnreadableShard] != 1 || !strings.Contains(strings.Join(st.SkippedExamples, "\n"), "b.tar") {
		t.Errorf("skips %v %q: want one unreadable shard naming b.tar", st.Skipped, st.SkippedExamples)
	}
}

func TestExpandBraces(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		err  bool
	}{
		{"a.tar", []string{"a.tar"}, false},
		{"s-{000..002}.tar", []string{"s-000.tar", "s-001.tar", "s-002.tar"}, false},
		{"s-{8..10}.tar", []string{"s-8.tar", "s-9.tar", "s-10.tar"}, false},
		{"{train,val}-{0..1}.tar", []string{"train-0.tar", "train-1.tar", "val-0.tar", "val-1.tar"}, false},
		{"{a,{b,c}}", []string{"a", "b", "c"}, false},
		{"{x}", []string{"{x}"}, false},
		{"s-{3..1}.tar", nil, true},
		{"s-{0..}.tar", nil, true},
		{"s-{0..9", nil, true},
		{"s-{0..99999999}", nil, true},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := expandBraces(c.in)
			if (err != nil) != c.err || !slices.Equal(got, c.want) {
				t.Errorf("expandBraces(%q) = %q, %v; want %q (error %v)", c.in, got, err, c.want, c.err)
			}
		})
	}
}

func FuzzTarRecords(f *testing.F) {
	for _, name := range []string{"two_images.tar", "two_images.tar.gz", "truncated.tar"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, archive []byte) {
		r, err := newTarRecords("fuzz.tar", io.NopCloser(bytes.NewReader(archive)), true)
		if err != nil {
			return
		}
		defer r.Close()
		ctx := context.Background()
		for n := 0; ; n++ {
			rec, err := r.Next(ctx)
			if err != nil {
				return // io.EOF or a read error: both end the shard
			}
			if !isImageName(rec.Key) || strings.HasPrefix(rec.Key, "/") || strings.HasPrefix(rec.Key, "../") {
				t.Fatalf("record %d: key %q", n, rec.Key)
			}
			if rec.Load == nil && int64(len(rec.Data)) > DefaultMaxImageBytes {
				t.Fatalf("record %d: %d bytes in memory", n, len(rec.Data))
			}
		}
	})
}

func TestTarFixtures(t *testing.T) {
	cases := []struct {
		name    string
		keys    string
		readErr bool
	}{
		{"two_images.tar", "[cls_a/00018.jpg cls_b/00006.jpg]", false},
		{"two_images.tar.gz", "[cls_a/00018.jpg cls_b/00006.jpg]", false},
		{"truncated.tar", "[]", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", c.name))
			if err != nil {
				t.Fatal(err)
			}
			r, err := newTarRecords(c.name, f, true)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var keys []string
			var readErr error
			for {
				rec, err := r.Next(context.Background())
				if err != nil {
					if err != io.EOF {
						readErr = err
					}
					break
				}
				keys = append(keys, rec.Key)
			}
			if fmt.Sprint(keys) != c.keys || (readErr != nil) != c.readErr {
				t.Errorf("keys %v, error %v; want %s, error %v", keys, readErr, c.keys, c.readErr)
			}
		})
	}
}
