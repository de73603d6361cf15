package loader

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"
)

// badFolder writes the smoke images with bad files (zero-byte, truncated, not images) mixed
// into their class folders, and opens it.
func badFolder(t *testing.T, nBad int) Source {
	t.Helper()
	dir := t.TempDir()
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
	writeFiles(t, dir, files)
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
