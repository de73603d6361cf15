package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeShard is a streamed shard of a given size, for dealing without data.
type fakeShard struct {
	name  string
	bytes int64
}

func (f fakeShard) Name() string                          { return f.name }
func (f fakeShard) Open(context.Context) (Records, error) { return nil, errors.New("not for reading") }
func (f fakeShard) streamed() bool                        { return true }
func (f fakeShard) size() int64                           { return f.bytes }

func fakeShards(sizes ...int64) []Shard {
	out := make([]Shard, len(sizes))
	for i, s := range sizes {
		out[i] = fakeShard{fmt.Sprint(i), s}
	}
	return out
}

// TestDealCoversEveryPieceOnce: every (shard, member residue) pair goes to exactly one
// replica, replicas get equal numbers of pieces, and none reads more than two shared shards.
func TestDealCoversEveryPieceOnce(t *testing.T) {
	for _, c := range []struct{ shards, world int }{{4, 2}, {5, 2}, {7, 3}, {3, 4}, {1, 2}, {1, 1}, {6, 6}, {2, 5}} {
		t.Run(fmt.Sprintf("%d shards over %d", c.shards, c.world), func(t *testing.T) {
			sizes := make([]int64, c.shards)
			for i := range sizes {
				sizes[i] = 100
			}
			for epoch := range 3 {
				d := newDeal(fakeShards(sizes...), dealShards, 9, epoch, c.world, "", 0)
				seen := map[[2]int]int{}
				var pieces []int
				for g, parts := range d.parts {
					n, shared := 0, 0
					for _, p := range parts {
						for r := p.lo; r < p.hi; r++ {
							seen[[2]int{p.shard, r}]++
						}
						n += p.hi - p.lo
						if p.hi-p.lo < c.world {
							shared++
						}
					}
					if shared > 2 {
						t.Errorf("replica %d reads %d shared shards, want at most 2", g, shared)
					}
					pieces = append(pieces, n)
				}
				if len(seen) != c.shards*c.world {
					t.Errorf("epoch %d: %d of %d pieces dealt", epoch, len(seen), c.shards*c.world)
				}
				for k, n := range seen {
					if n != 1 {
						t.Errorf("piece %v dealt %d times", k, n)
					}
				}
				if slices.Min(pieces) != slices.Max(pieces) {
					t.Errorf("pieces per replica %v, want equal", pieces)
				}
			}
		})
	}
}

// TestDealBalancesBytes: shards of unequal sizes go to the least loaded replica, so loads
// differ by at most the largest shard.
func TestDealBalancesBytes(t *testing.T) {
	sizes := []int64{900, 100, 100, 100, 100, 100, 100, 100, 100, 700, 50, 50}
	for epoch := range 5 {
		d := newDeal(fakeShards(sizes...), dealShards, 1, epoch, 3, "", 0)
		var loads []int64
		for _, parts := range d.parts {
			var l int64
			for _, p := range parts {
				l += sizes[p.shard] * int64(p.hi-p.lo) / 3
			}
			loads = append(loads, l)
		}
		if slices.Max(loads)-slices.Min(loads) > 900 {
			t.Errorf("epoch %d: loads %v differ by more than the largest shard", epoch, loads)
		}
	}
}

// ranks runs one loader per simulated rank of a world, each with its share of the replicas,
// joined by an Agree that ORs their answers as an all-reduce would.
type ranks struct {
	loaders []*Loader
}

// agreement is an all-reduce (OR) between n participants, one round per call of each; a
// participant whose context ends stops waiting, as an MPI layer's must.
type agreement struct {
	mu    sync.Mutex
	n     int
	votes int
	round *round
}

type round struct {
	any  bool
	done chan struct{}
}

func newAgreement(n int) *agreement { return &agreement{n: n} }

func (a *agreement) agree(ctx context.Context, more bool) (bool, error) {
	a.mu.Lock()
	if a.round == nil {
		a.round = &round{done: make(chan struct{})}
	}
	r := a.round
	r.any = r.any || more
	a.votes++
	if a.votes == a.n {
		a.votes, a.round = 0, nil
		close(r.done)
	}
	a.mu.Unlock()
	select {
	case <-r.done:
		return r.any, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// startRanks starts world/perRank loaders over the sources open gives, rank r feeding
// replicas [r*perRank, (r+1)*perRank).
func startRanks(t *testing.T, open func(rank int) Source, world, perRank int, opt Options) *ranks {
	t.Helper()
	n := world / perRank
	a := newAgreement(n)
	rs := &ranks{}
	for r := range n {
		o := opt
		o.World, o.Replica, o.Replicas = world, r*perRank, perRank
		if n > 1 {
			o.Agree = a.agree
		}
		rs.loaders = append(rs.loaders, newTestLoader(t, open(r), o))
	}
	return rs
}

// step is one global batch as the ranks delivered it: keys and views in replica order.
type step struct {
	keys  string
	sum   string
	pos   Position
	epoch int
}

// run reads every rank's batches in lockstep until io.EOF and joins them.
func (rs *ranks) run(t *testing.T, limit int) []step {
	t.Helper()
	ctx := context.Background()
	var out []step
	for limit < 0 || len(out) < limit {
		var keys []string
		var sums []string
		var pos Position
		epoch := -1
		ended := 0
		for i, l := range rs.loaders {
			b, err := l.Next(ctx)
			if errors.Is(err, io.EOF) {
				ended++
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, b.Keys...)
			sums = append(sums, viewSum(b))
			if epoch >= 0 && b.Epoch != epoch {
				t.Fatalf("rank %d is in epoch %d, rank 0 in %d", i, b.Epoch, epoch)
			}
			epoch = b.Epoch
			p := l.Position()
			if i == 0 {
				pos = p
			} else {
				pos = pos.Merge(p)
			}
			l.Release(b)
		}
		if ended == len(rs.loaders) {
			return out
		}
		if ended > 0 {
			t.Fatalf("%d of %d ranks ended while the others went on", ended, len(rs.loaders))
		}
		out = append(out, step{strings.Join(keys, ","), strings.Join(sums, ""), pos, epoch})
	}
	return out
}

// viewSum is a digest of a batch's views, sample by sample, so that the batches of ranks
// joined equal the batch of one process with their replicas.
func viewSum(b *Batch) string {
	var s strings.Builder
	for i := range b.N {
		var h uint64 = 14695981039346656037
		for v, x := range b.Views {
			per := 3 * b.Sizes[v] * b.Sizes[v]
			for _, x := range x[i*per : (i+1)*per] {
				h = (h ^ uint64(int64(x*1e6))) * 1099511628211
			}
		}
		fmt.Fprintf(&s, "%x;", h)
	}
	return s.String()
}

// epochKeys splits steps into the keys of each epoch.
func epochKeys(steps []step) map[int][]string {
	out := map[int][]string{}
	for _, s := range steps {
		if s.keys != "" {
			out[s.epoch] = append(out[s.epoch], strings.Split(s.keys, ",")...)
		}
	}
	return out
}

// countedTar opens the archives of pattern with every byte read counted in n.
func countedTar(t *testing.T, pattern string, n *atomic.Int64) *TarSource {
	t.Helper()
	src, err := OpenTar(pattern)
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range src.shards {
		ts := sh.(*tarShard)
		open := ts.open
		ts.open = func(ctx context.Context) (io.ReadCloser, error) {
			rc, err := open(ctx)
			if err != nil {
				return nil, err
			}
			return countingCloser{rc, n}, nil
		}
	}
	return src
}

type countingCloser struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingCloser) Read(p []byte) (int, error) {
	k, err := c.ReadCloser.Read(p)
	c.n.Add(int64(k))
	return k, err
}
