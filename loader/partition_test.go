package loader

import (
	"fmt"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
)

// shardOf maps each smoke image to the archive writeShards put it in.
func shardOf(files []file, n int) map[string]int {
	out := map[string]int{}
	for j, f := range files {
		out[f.name] = j % n
	}
	return out
}

// TestRanksReadDisjointShards: simulated ranks each read a disjoint set of whole shards per
// epoch, together every sample once, each about total/ranks of the bytes; and the ranks
// joined give the batches of one process with all the replicas.
func TestRanksReadDisjointShards(t *testing.T) {
	files := smokeFiles(t)
	for _, c := range []struct{ ranks, shards int }{{2, 4}, {2, 5}, {3, 6}, {3, 7}} {
		t.Run(fmt.Sprintf("%d ranks, %d shards", c.ranks, c.shards), func(t *testing.T) {
			dir := t.TempDir()
			pattern := writeShards(t, dir, files, c.shards, true)
			var total, largest int64
			for i := range c.shards {
				sz := fileSize(filepath.Join(dir, fmt.Sprintf("shards-%03d.tar.gz", i)))
				total += sz
				largest = max(largest, sz)
			}
			counted := make([]atomic.Int64, c.ranks)
			opt := Options{Seed: 3, Epochs: 2, BatchSize: 6 * c.ranks, ShuffleBuffer: 10}
			rs := startRanks(t, func(r int) Source { return countedTar(t, pattern, &counted[r]) }, c.ranks, 1, opt)
			steps := rs.run(t, -1)
			for e, keys := range epochKeys(steps) {
				if got := sorted(keys); !slices.Equal(got, names(files)) {
					t.Errorf("epoch %d: %d samples (%d distinct), want each of the %d once", e, len(got), len(slices.Compact(got)), len(files))
				}
			}
			for r, l := range rs.loaders {
				got := counted[r].Load()
				// Two epochs, each about total/ranks: the shared shards add at most one.
				lo, hi := 2*(total/int64(c.ranks)-largest), 2*(total/int64(c.ranks)+largest)
				if got < lo || got > hi {
					t.Errorf("rank %d read %d bytes in 2 epochs of %d; want %d..%d", r, got, total, lo, hi)
				}
				if st := l.Stats(); st.ReadBytes[0] != got {
					t.Errorf("rank %d: Stats.ReadBytes %v, counted %d", r, st.ReadBytes, got)
				}
			}

			one := startRanks(t, func(int) Source { return countedTar(t, pattern, new(atomic.Int64)) }, c.ranks, c.ranks, opt)
			if joined := one.run(t, -1); !slices.Equal(joined, steps) {
				t.Errorf("1 process with %d replicas gave %d batches unlike the %d of %d ranks with one each", c.ranks, len(joined), len(steps), c.ranks)
			}

			// The sample split reads everything on every rank.
			var all atomic.Int64
			o := opt
			o.SampleSplit, o.Epochs = true, 1
			sample := startRanks(t, func(int) Source { return countedTar(t, pattern, &all) }, c.ranks, 1, o)
			sample.run(t, -1)
			if got := all.Load(); got != int64(c.ranks)*total {
				t.Errorf("sample split: %d ranks read %d bytes, want %d each", c.ranks, got, total)
			}
		})
	}
}

// TestShardedResumeIsExact: ranks restarted from any position continue with the batches of
// the uninterrupted run.
func TestShardedResumeIsExact(t *testing.T) {
	files := smokeFiles(t)
	pattern := writeShards(t, t.TempDir(), files, 5, false)
	open := func(int) Source { s, _ := OpenTar(pattern); return s }
	opt := Options{Seed: 8, Epochs: 3, BatchSize: 8, ShuffleBuffer: 12, World: 2}
	full := startRanks(t, open, 2, 1, opt).run(t, -1)
	for _, k := range []int{0, 2, 3, 5, len(full) - 2} {
		for _, perRank := range []int{1, 2} {
			t.Run(fmt.Sprintf("after batch %d, %d replicas per rank", k, perRank), func(t *testing.T) {
				o := opt
				o.Start = full[k].pos
				got := startRanks(t, open, 2, perRank, o).run(t, -1)
				if !slices.Equal(got, full[k+1:]) {
					t.Errorf("resumed at %+v: %d batches unlike the uninterrupted run's last %d", o.Start, len(got), len(full)-k-1)
				}
			})
		}
	}
}

// TestResumeWithAnotherWorldSize: a run resumed with another number of replicas finishes the
// epoch without delivering any sample twice, reads every shard (or, for per-file sources,
// every sample) the old world had not taken, and then reads whole epochs.
func TestResumeWithAnotherWorldSize(t *testing.T) {
	files := smokeFiles(t)
	shards := 5
	pattern := writeShards(t, t.TempDir(), files, shards, true)
	tars := func(int) Source { s, _ := OpenTar(pattern); return s }
	folder := func(int) Source { return openSmoke(t) }
	owner := shardOf(files, shards)
	for _, c := range []struct {
		name          string
		open          func(int) Source
		from, to      int
		stop          int // batches of the old world
		old           bool
		perFileSource bool
	}{
		{"tar shards, 2 ranks to 3", tars, 2, 3, 2, false, false},
		{"tar shards, 3 ranks to 2", tars, 3, 2, 1, false, false},
		{"tar shards, a checkpoint of one process before worlds to 2", tars, 1, 2, 2, true, false},
		{"folder, 2 ranks to 3", folder, 2, 3, 3, false, true},
		{"folder, 3 ranks to 1", folder, 3, 1, 2, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			opt := Options{Seed: 4, Epochs: 2, BatchSize: 6, ShuffleBuffer: 4}
			before := startRanks(t, c.open, c.from, 1, opt).run(t, c.stop)
			pos := before[len(before)-1].pos
			taken := shardSet(pos.TakenShards)
			if pos.Epoch != 0 {
				t.Fatalf("the old world's %d batches ended the epoch; want a position inside it", c.stop)
			}
			if c.old {
				pos = Position{Consumed: pos.Consumed} // as written before positions had a world
			}
			opt.Start = pos
			after := startRanks(t, c.open, c.to, 1, opt).run(t, -1)
			seen := map[string]int{}
			for _, k := range epochKeys(before)[0] {
				seen[k]++
			}
			epochs := epochKeys(after)
			for _, k := range epochs[0] {
				seen[k]++
			}
			var missing []string
			for _, f := range files {
				switch n := seen[f.name]; {
				case n > 1:
					t.Errorf("%s delivered %d times in epoch 0", f.name, n)
				case n == 0:
					missing = append(missing, f.name)
				}
			}
			if c.perFileSource {
				// What sat in the old world's shuffle buffers, and fewer than a sample per
				// old replica at the cut.
				if limit := c.from * (opt.ShuffleBuffer + 1); len(missing) > limit {
					t.Errorf("%d samples of epoch 0 never delivered, want at most %d: %v", len(missing), limit, missing)
				}
			} else {
				// An old position does not say what was taken: the loader finds it by
				// replaying the old stream, and must find what the old run recorded.
				for _, k := range missing {
					if !taken.has(owner[k]) {
						t.Errorf("%s (shard %d) never delivered, but its shard was not taken (%s)", k, owner[k], pos.TakenShards)
					}
				}
				if taken.len() == shards {
					t.Fatalf("the old world had opened every shard; the test needs a later cut")
				}
			}
			if got := sorted(epochs[1]); !slices.Equal(got, names(files)) {
				t.Errorf("epoch 1 after the resume: %d samples, want each of %d once", len(got), len(files))
			}
		})
	}
}

// TestResumeWhenEveryShardWasTaken: a world that had opened every shard of its epoch leaves
// the next world nothing of it; that world goes on with the next epoch, whole.
func TestResumeWhenEveryShardWasTaken(t *testing.T) {
	files := smokeFiles(t)
	pattern := writeShards(t, t.TempDir(), files, 3, false)
	open := func(int) Source { s, _ := OpenTar(pattern); return s }
	opt := Options{Seed: 4, Epochs: 2, BatchSize: 8, ShuffleBuffer: 8}
	before := startRanks(t, open, 2, 1, opt).run(t, 4)
	pos := before[len(before)-1].pos
	if pos.Epoch != 0 || shardSet(pos.TakenShards).len() != 3 {
		t.Fatalf("position %+v: want one inside epoch 0 with every shard taken", pos)
	}
	opt.Start = pos
	after := startRanks(t, open, 1, 1, opt).run(t, -1)
	keys := epochKeys(after)
	if len(keys[0]) != 0 || !slices.Equal(sorted(keys[1]), names(files)) {
		t.Errorf("after the resume: %d samples of epoch 0, %d of epoch 1; want none, then all %d", len(keys[0]), len(keys[1]), len(files))
	}
}
