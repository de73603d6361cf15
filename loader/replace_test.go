package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natssl/natssl/configs"
)

// withBad returns the smoke images with nBad bad files (zero-byte, truncated, not images)
// mixed into their class folders.
func withBad(t testing.TB, nBad int) []file {
	t.Helper()
	files := smokeFiles(t)
	good := files[0].data
	for i := range nBad {
		cls := path.Dir(files[(i*7)%len(files)].name)
		var data []byte
		switch i % 3 {
		case 1:
			data = good[:len(good)/3]
		case 2:
			data = []byte("not an image\n")
		}
		files = append(files, file{fmt.Sprintf("%s/bad-%02d.jpg", cls, i), data})
	}
	return files
}

// badFolder writes the smoke images with nBad bad files among them, and opens the folder.
func badFolder(t *testing.T, nBad int) Source {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, withBad(t, nBad))
	src, err := OpenFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// TestBadSamplesReplaced: a bad sample is replaced by the next good one, so batches are full
// except the last of each epoch, every good image is delivered once per epoch, and the
// batches (keys and pixels) are the same whatever the number of workers and after a resume
// at any batch.
func TestBadSamplesReplaced(t *testing.T) {
	const batch = 10
	src := badFolder(t, 12) // 56 good + 12 bad: 5 full batches and one of 6 per epoch
	opt := Options{Seed: 3, Epochs: 3, ShuffleBuffer: 16, BatchSize: batch, Workers: 1}
	l := newTestLoader(t, src, opt)
	full := digests(t, l, -1)
	if st := l.Stats(); st.SkippedTotal() != 3*12 {
		t.Errorf("skipped %v, want the 12 bad files in each of 3 epochs", st.Skipped)
	}
	perEpoch := map[int][]int{}
	for _, d := range full {
		keys := strings.Split(d.keys, ",")
		epoch := d.pos.Epoch
		if d.pos.Consumed == 0 {
			epoch-- // the last batch of an epoch
		}
		perEpoch[epoch] = append(perEpoch[epoch], len(keys))
		for _, k := range keys {
			if strings.Contains(k, "bad-") {
				t.Fatalf("bad file %s delivered", k)
			}
		}
	}
	for e := range 3 {
		if want := []int{batch, batch, batch, batch, batch, 6}; !slices.Equal(perEpoch[e], want) {
			t.Errorf("epoch %d: batch sizes %v, want %v (short only at the end)", e, perEpoch[e], want)
		}
	}
	for _, workers := range []int{3, 8} {
		o := opt
		o.Workers = workers
		if got := digests(t, newTestLoader(t, src, o), -1); !slices.Equal(got, full) {
			t.Errorf("%d workers give other batches than 1 worker", workers)
		}
	}
	for _, k := range []int{0, 2, 4, 5, 7, 11, len(full) - 2} {
		t.Run(fmt.Sprintf("resume after batch %d", k), func(t *testing.T) {
			o := opt
			o.Start, o.Workers = full[k].pos, 4
			if got := digests(t, newTestLoader(t, src, o), -1); !slices.Equal(got, full[k+1:]) {
				t.Errorf("resumed at %+v: the batches differ from the uninterrupted run's", o.Start)
			}
		})
	}
}

// TestMostlyBadData: with more bad samples than a chunk can make up for at once, batches are
// still full until each epoch's end.
func TestMostlyBadData(t *testing.T) {
	src := badFolder(t, 60)
	l := newTestLoader(t, src, Options{Seed: 9, Epochs: 2, ShuffleBuffer: 4, BatchSize: 8, Workers: 2})
	var sizes []int
	for _, b := range run(t, l) {
		sizes = append(sizes, len(b))
	}
	if want := []int{8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8}; !slices.Equal(sizes, want) {
		t.Errorf("batch sizes %v, want %v", sizes, want)
	}
}

// TestBadSamplesReplacedPerReplica: with several replicas, each replica's stream replaces
// its own bad samples with its next good ones, so every batch is whole until the end of an
// epoch; one process with two replicas gives the batches (keys, pixels, positions) of two
// processes with one each; and a resume at any batch, with either split, continues exactly,
// for a folder (dealt by sample) and tar shards (dealt by shard) alike.
func TestBadSamplesReplacedPerReplica(t *testing.T) {
	files := withBad(t, 18) // 56 good, 18 bad
	dir := t.TempDir()
	writeFiles(t, dir, files)
	pattern := writeShards(t, t.TempDir(), files, 4, false)
	for _, c := range []struct {
		name string
		open func(int) Source
	}{
		{"folder", func(int) Source { s, _ := OpenFolder(dir); return s }},
		{"tar shards", func(int) Source { s, _ := OpenTar(pattern); return s }},
	} {
		t.Run(c.name, func(t *testing.T) {
			opt := Options{Seed: 5, Epochs: 3, BatchSize: 8, ShuffleBuffer: 6, World: 2, Workers: 3}
			full := startRanks(t, c.open, 2, 2, opt).run(t, -1)
			for i, s := range full {
				n := len(strings.Split(s.keys, ","))
				if strings.Contains(s.keys, "bad-") {
					t.Fatalf("batch %d holds a bad file: %s", i, s.keys)
				}
				if last := i == len(full)-1 || full[i+1].epoch != s.epoch; n != opt.BatchSize && !last {
					t.Errorf("batch %d of epoch %d holds %d samples inside the epoch, want %d", i, s.epoch, n, opt.BatchSize)
				}
			}
			for e, keys := range epochKeys(full) {
				if got := sorted(keys); !slices.Equal(got, names(files[:smokeImages])) {
					t.Errorf("epoch %d: %d samples, want each of the %d good ones once", e, len(got), smokeImages)
				}
			}
			// Processes joined by Agree step through a batch whose samples all turned out bad
			// (it is delivered empty); one process passes over it.
			if split := nonEmpty(startRanks(t, c.open, 2, 1, opt).run(t, -1)); !slices.Equal(split, full) {
				t.Errorf("two processes with one replica each gave other batches than one with two (%d and %d)", len(split), len(full))
			}
			replaced := false
			for _, k := range []int{0, 1, 3, 6, 8, len(full) - 2} {
				replaced = replaced || full[k].pos.Replaced != ""
				for _, perRank := range []int{1, 2} {
					o := opt
					o.Start = full[k].pos
					if got := nonEmpty(startRanks(t, c.open, 2, perRank, o).run(t, -1)); !slices.Equal(got, full[k+1:]) {
						t.Errorf("resumed at %+v with %d replicas per process: the batches differ from the uninterrupted run's", o.Start, perRank)
					}
				}
			}
			if !replaced {
				t.Errorf("no resume point had replaced samples: the test resumes nothing it means to")
			}
		})
	}
}

// TestMultiCropBadSamplesPerReplica: with multi-crop views of several sizes, the batches one
// process with two replicas assembles (every part copied, bad samples replaced) hold, sample
// by sample, the views that two processes of one replica hand out (whole segments where no
// sample was bad), and a resume continues with the same batches.
func TestMultiCropBadSamplesPerReplica(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, withBad(t, 18))
	open := func(int) Source { s, _ := OpenFolder(dir); return s }
	aug := testAugment()
	aug.Crops = []configs.Crop{{Size: 16, Count: 2, Scale: [2]float64{0.3, 1}}, {Size: 8, Count: 3, Scale: [2]float64{0.05, 0.3}}}
	opt := Options{Seed: 4, Epochs: 2, BatchSize: 8, ImageSize: 16, ShuffleBuffer: 6, World: 2, Workers: 2, Augment: aug}
	full := startRanks(t, open, 2, 2, opt).run(t, -1)
	split := nonEmpty(startRanks(t, open, 2, 1, opt).run(t, -1))
	if !slices.Equal(split, full) {
		t.Fatalf("two processes with one replica each gave other multi-crop batches than one with two (%d and %d)", len(split), len(full))
	}
	for _, k := range []int{1, 4, len(full) - 2} {
		o := opt
		o.Start = full[k].pos
		if got := nonEmpty(startRanks(t, open, 2, 2, o).run(t, -1)); !slices.Equal(got, full[k+1:]) {
			t.Errorf("resumed at %+v: the multi-crop batches differ from the uninterrupted run's", o.Start)
		}
	}
}

// TestBadSamplesAndAnotherWorldSize: a run with bad samples resumed with another number of
// replicas delivers no good sample twice in the epoch it resumes.
func TestBadSamplesAndAnotherWorldSize(t *testing.T) {
	files := withBad(t, 18)
	dir := t.TempDir()
	writeFiles(t, dir, files)
	open := func(int) Source { s, _ := OpenFolder(dir); return s }
	opt := Options{Seed: 4, Epochs: 2, BatchSize: 6, ShuffleBuffer: 4}
	before := startRanks(t, open, 2, 1, opt).run(t, 3)
	opt.Start = before[len(before)-1].pos
	if opt.Start.Replaced == "" || opt.Start.Epoch != 0 {
		t.Fatalf("position %+v: want one inside epoch 0 after replaced samples", opt.Start)
	}
	after := startRanks(t, open, 3, 1, opt).run(t, -1)
	seen := map[string]int{}
	for _, k := range append(epochKeys(before)[0], epochKeys(after)[0]...) {
		if seen[k]++; seen[k] > 1 {
			t.Errorf("%s delivered twice in epoch 0", k)
		}
	}
	if got := sorted(epochKeys(after)[1]); !slices.Equal(got, names(files[:smokeImages])) {
		t.Errorf("epoch 1 after the resume: %d samples, want each of the %d good ones once", len(got), smokeImages)
	}
}

// TestNoGoodSampleStops: a folder whose images are all bad stops the loader at the end of
// its first epoch with ErrNoSource and the skip counts, instead of cycling forever; the
// rest of a resumed epoch may be all bad.
func TestNoGoodSampleStops(t *testing.T) {
	dir := t.TempDir()
	good := smokeFiles(t)[0].data
	writeFiles(t, dir, []file{
		{"a/empty.jpg", nil}, {"a/cut.jpg", good[:len(good)/3]}, {"b/text.jpg", []byte("not an image")}, {"b/cut2.jpg", good[:40]},
	})
	src, err := OpenFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, replicas := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d replicas", replicas), func(t *testing.T) {
			l := newTestLoader(t, src, Options{Seed: 1, BatchSize: 2, Replicas: replicas}) // cycles forever
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			b, err := l.Next(ctx)
			if b != nil || !errors.Is(err, ErrNoSource) {
				t.Fatalf("Next: %v, %v; want ErrNoSource", b, err)
			}
			for _, want := range []string{"epoch 0", "4 samples", "corrupt 2", "empty 1", "not_image 1"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if _, again := l.Next(ctx); !errors.Is(again, ErrNoSource) {
				t.Errorf("the next call: %v; want the same error", again)
			}
		})
	}
	// A good image in the folder: epochs go on.
	writeFiles(t, dir, []file{{"b/good.jpg", good}})
	src, err = OpenFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, newTestLoader(t, src, Options{Seed: 1, BatchSize: 2, Epochs: 3})); len(got) != 3 {
		t.Errorf("%d batches over 3 epochs of one good image, want 3", len(got))
	}
}

// nonEmpty leaves out the steps that delivered no sample.
func nonEmpty(steps []step) []step {
	return slices.DeleteFunc(steps, func(s step) bool { return s.keys == "" })
}

// TestWholeSegmentsAreNotCopied: with one replica and no bad sample, every whole batch is a
// segment handed out as it was decoded, not a copy of one.
func TestWholeSegmentsAreNotCopied(t *testing.T) {
	l := newTestLoader(t, openSmoke(t), Options{Seed: 2, Epochs: 2, BatchSize: 8, ShuffleBuffer: 16})
	whole, copied := 0, 0
	for {
		b, err := l.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if b.N == 8 {
			whole++
			if b.pool != l.segFree {
				copied++
			}
		}
		l.Release(b)
	}
	if whole != 14 || copied != 0 {
		t.Errorf("%d whole batches, %d of them copied; want 14, none", whole, copied)
	}
}
