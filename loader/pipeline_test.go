package loader

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// batchDigest is a batch's keys and a hash of its views' bytes.
type batchDigest struct {
	keys string
	sum  [32]byte
	pos  Position
}

func digests(t testing.TB, l *Loader, limit int) []batchDigest {
	t.Helper()
	var out []batchDigest
	for len(out) < limit || limit < 0 {
		b, err := l.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		for _, v := range b.Views {
			for _, x := range v {
				binary.Write(h, binary.LittleEndian, math.Float32bits(x))
			}
		}
		var d batchDigest
		copy(d.sum[:], h.Sum(nil))
		d.keys = strings.Join(b.Keys, ",")
		d.pos = l.Position()
		out = append(out, d)
		l.Release(b)
	}
	return out
}

func TestSameBytesWhateverTheWorkerCount(t *testing.T) {
	src := openSmoke(t)
	var want []batchDigest
	for _, workers := range []int{1, 2, 5} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			l := newTestLoader(t, src, Options{Seed: 7, Epochs: 2, Workers: workers, ShuffleBuffer: 10, BatchSize: 6})
			got := digests(t, l, -1)
			if want == nil {
				want = got
				return
			}
			if !slices.Equal(got, want) {
				t.Errorf("batches differ from those made with 1 worker")
			}
		})
	}
	t.Run("another seed", func(t *testing.T) {
		l := newTestLoader(t, src, Options{Seed: 8, Epochs: 2, ShuffleBuffer: 10, BatchSize: 6})
		if slices.Equal(digests(t, l, -1), want) {
			t.Errorf("seed 8 gave the batches of seed 7")
		}
	})
}

func TestReplicasOfAFolderSplitBySample(t *testing.T) {
	src := openSmoke(t)
	for _, world := range []int{1, 2, 4} {
		t.Run(fmt.Sprintf("world=%d", world), func(t *testing.T) {
			for epoch := range 2 {
				var union []string
				var per []int
				for g := range world {
					l := newTestLoader(t, src, Options{Seed: 5, Epochs: epoch + 1, Start: Position{Epoch: epoch}, World: world, Replica: g, ShuffleBuffer: 8})
					keys := flatten(run(t, l))
					per = append(per, len(keys))
					union = append(union, keys...)
				}
				all := sorted(union)
				if len(all) != smokeImages || len(slices.Compact(slices.Clone(all))) != smokeImages {
					t.Errorf("epoch %d: %d replicas yield %d samples (%d distinct), want each of %d once", epoch, world, len(all), len(slices.Compact(slices.Clone(all))), smokeImages)
				}
				if slices.Max(per)-slices.Min(per) > 1 {
					t.Errorf("epoch %d: replicas yield %v samples: a sample split is even to one", epoch, per)
				}
			}
		})
	}
}

func TestResumeContinuesWithTheSameBatches(t *testing.T) {
	src := openSmoke(t)
	opt := Options{Seed: 11, Epochs: 3, ShuffleBuffer: 12, BatchSize: 8}
	full := digests(t, newTestLoader(t, src, opt), -1)
	// 56 samples in batches of 8: batch 6 ends epoch 0 exactly, so position {1 0} follows it.
	if full[6].pos != (Position{Epoch: 1, World: 1}) {
		t.Fatalf("position after the last batch of epoch 0 = %+v, want {1 0}", full[6].pos)
	}
	for _, k := range []int{0, 3, 6, 9, len(full) - 1} {
		t.Run(fmt.Sprintf("after batch %d", k), func(t *testing.T) {
			o := opt
			o.Start = full[k].pos
			o.Workers = 3
			got := digests(t, newTestLoader(t, src, o), -1)
			if !slices.Equal(got, full[k+1:]) {
				t.Errorf("resumed at %+v: %d batches differ from the uninterrupted run's last %d", o.Start, len(got), len(full)-k-1)
			}
		})
	}
}

func TestBadInputIsSkippedAndCounted(t *testing.T) {
	dir := t.TempDir()
	files := smokeFiles(t)[:12]
	good := files[0].data
	files = append(files,
		file{"bad/truncated.jpg", good[:len(good)/2]},
		file{"bad/zero.jpg", nil},
		file{"bad/notes.jpg", []byte("this is a text file named .jpg\n")},
		file{"bad/garbage.png", append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 40)...)},
	)
	writeFiles(t, dir, files)
	src, err := OpenFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	l := newTestLoader(t, src, Options{Seed: 1, Epochs: 1, BatchSize: 5})
	keys := flatten(run(t, l))
	if len(keys) != 12 {
		t.Errorf("delivered %d samples, want the 12 good ones", len(keys))
	}
	st := l.Stats()
	want := map[string]int64{SkipCorrupt: 2, SkipEmpty: 1, SkipNotImage: 1}
	for reason, n := range want {
		if st.Skipped[reason] != n {
			t.Errorf("skipped[%s] = %d, want %d (all: %v)", reason, st.Skipped[reason], n, st.Skipped)
		}
	}
	for _, name := range []string{"truncated.jpg", "zero.jpg", "notes.jpg", "garbage.png"} {
		if !slices.ContainsFunc(st.SkippedExamples, func(s string) bool { return strings.Contains(s, name) }) {
			t.Errorf("skip examples %q do not name %s", st.SkippedExamples, name)
		}
	}
}

func TestFolderLabelsFollowParentFolders(t *testing.T) {
	dir := t.TempDir()
	img := smokeFiles(t)[0].data
	writeFiles(t, dir, []file{
		{"00003_Plantae_a/x.jpg", img}, {"00010_Fungi_b/y.jpg", img}, {"00010_Fungi_b/sub/00000_z/z.jpg", img},
	})
	src, err := OpenFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	got := map[string]int{}
	for _, sh := range src.Shards() {
		r, _ := sh.Open(ctx)
		for rec, err := r.Next(ctx); err == nil; rec, err = r.Next(ctx) {
			got[rec.Key] = rec.Label
		}
	}
	want := map[string]int{"00003_Plantae_a/x.jpg": 3, "00010_Fungi_b/y.jpg": 10, "00010_Fungi_b/sub/00000_z/z.jpg": 0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("labels %v, want %v", got, want)
	}
	if n, _ := src.Len(ctx); n != 3 {
		t.Errorf("Len = %d, want 3", n)
	}
}

func TestCloseStopsAMidEpochLoader(t *testing.T) {
	l := newTestLoader(t, openSmoke(t), Options{Seed: 1, BatchSize: 4}) // cycles forever
	if _, err := l.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := l.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("next after close: %v, want ErrClosed", err)
	}
}

func TestNextHonoursItsContext(t *testing.T) {
	l := newTestLoader(t, openSmoke(t), Options{Seed: 1, BatchSize: 4, Epochs: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("next with a cancelled context: %v", err)
	}
	if keys := flatten(run(t, l)); len(keys) != smokeImages {
		t.Errorf("after a cancelled Next the epoch still holds %d samples, want %d", len(keys), smokeImages)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "train.json")
	os.WriteFile(notJSON, []byte("images:\n - a.jpg\n"), 0o644)
	cases := []struct {
		source string
		want   string
	}{
		{filepath.Join(dir, "nope"), "does not exist"},
		{filepath.Join(dir, "nope.json"), "does not exist"},
		{filepath.Join(dir, "shards-{000..003}.tar"), "does not exist"},
		{filepath.Join(dir, "*.tar.gz"), "matches no files"},
		{notJSON, "not JSON"},
		{"", "empty"},
	}
	for _, c := range cases {
		t.Run(c.source, func(t *testing.T) {
			d := testData(c.source)
			_, err := Open(context.Background(), d)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Open(%q) = %v, want an error saying %q", c.source, err, c.want)
			}
		})
	}
}

func TestPathLabel(t *testing.T) {
	cases := map[string]int{
		"train/00042_Animalia_Arthropoda/abc.jpg": 42,
		"00007_x/y.jpg":     7,
		"a/b/00003_c/d.jpg": 3,
		"x.jpg":             -1,
		"Shirt/00018.jpg":   -1,
		"00042/abc.jpg":     -1,
		"_x/abc.jpg":        -1,
	}
	for in, want := range cases {
		if got := pathLabel(in); got != want {
			t.Errorf("pathLabel(%q) = %d, want %d", in, got, want)
		}
	}
}

// countingSource counts the samples its records fetch.
type countingSource struct {
	Source
	loads atomic.Int64
}

func (c *countingSource) Shards() []Shard {
	var out []Shard
	for _, s := range c.Source.Shards() {
		out = append(out, countingShard{s, c})
	}
	return out
}

type countingShard struct {
	Shard
	c *countingSource
}

func (s countingShard) Open(ctx context.Context) (Records, error) {
	r, err := s.Shard.Open(ctx)
	return countingRecords{r, s.c}, err
}

type countingRecords struct {
	Records
	c *countingSource
}

func (r countingRecords) Next(ctx context.Context) (Record, error) {
	rec, err := r.Records.Next(ctx)
	if load := rec.Load; load != nil {
		rec.Load = func(ctx context.Context) ([]byte, error) { r.c.loads.Add(1); return load(ctx) }
	}
	return rec, err
}

func TestSkippedSamplesAreNeverFetched(t *testing.T) {
	cases := []struct {
		name      string
		opt       Options
		wantLoads int64
	}{
		{"resume 40 into the epoch", Options{Epochs: 1, Start: Position{Consumed: 40}}, smokeImages - 40},
		{"replica 1 of 4", Options{Epochs: 1, Replica: 1, World: 4}, smokeImages / 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := &countingSource{Source: openSmoke(t)}
			c.opt.Seed, c.opt.ShuffleBuffer = 3, 16
			l := newTestLoader(t, src, c.opt)
			if n := int64(len(flatten(run(t, l)))); n != c.wantLoads || src.loads.Load() != c.wantLoads {
				t.Errorf("delivered %d, fetched %d; want %d of each", n, src.loads.Load(), c.wantLoads)
			}
		})
	}
}
