package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
)

// An epoch's stream is dealt to the world's replicas in one of two ways.
//
// By shard, when every shard is a stream (tar archives, local or on S3), where skipping a
// sample still costs reading it: the epoch's shard order (drawn from the seed) is dealt out
// whole, each next shard to the replica with the least data so far (bytes where the shard
// sizes are known, else shards; ties to the lowest replica: plain round-robin for equal
// shards), so that every replica reads about total/World bytes. When the shard count is not
// a multiple of World, the last count%World shards of the order are shared instead: each is
// cut into World pieces by member index modulo World, and replica g takes the pieces
// [g*T, (g+1)*T) of the T*World in order. Every replica then gets the same number of pieces,
// from at most two shared shards, so equal shards give streams equal to within a sample per
// shared shard, and no replica ends its epoch more than one shard's worth before another
// (the bound of dealing to the least loaded). One shard and several replicas is the pure
// sample split.
//
// By sample, for per-file sources (folders, manifests over folders or S3, S3 objects), where
// skipping a sample costs nothing and balance is exact: every replica walks the whole stream
// and keeps the samples whose index i has i ≡ g (mod World), counted from the deal's start.

// dealMode says how an epoch is dealt.
type dealMode int

const (
	dealSamples dealMode = iota
	dealShards
)

// streamedShard is a shard whose samples can only be reached by reading the ones before them.
type streamedShard interface{ streamed() bool }

// sizedShard is a shard that knows its stored size in bytes (0: unknown).
type sizedShard interface{ size() int64 }

// part is one shard a replica reads, keeping the members whose index within the shard
// modulo the world size is in [lo, hi); a whole shard is [0, world).
type part struct {
	shard  int
	lo, hi int
}

// deal is one epoch's division of the source between the world's replicas.
type deal struct {
	mode        dealMode
	world       int
	shards      []Shard
	order       []int    // the epoch's shard order, skipped shards left out (shard mode)
	parts       [][]part // per replica (shard mode)
	skip        shardSet // shard mode: left out of this deal
	skipSamples int64    // sample mode: the deal starts at this index of the epoch's stream
	sizes       []int64  // per source shard, for dealing; 1 each when any is unknown
}

// modeOf chooses how src's epochs are dealt; sampleSplit forces the sample split.
func modeOf(shards []Shard, sampleSplit bool) dealMode {
	if sampleSplit {
		return dealSamples
	}
	for _, s := range shards {
		if st, ok := s.(streamedShard); !ok || !st.streamed() {
			return dealSamples
		}
	}
	return dealShards
}

// newDeal deals epoch's stream to world replicas, leaving out skip (shard mode) or the first
// skipSamples samples (sample mode).
func newDeal(shards []Shard, mode dealMode, seed int64, epoch, world int, skip shardSet, skipSamples int64) *deal {
	d := &deal{mode: mode, world: world, shards: shards, skip: skip, skipSamples: skipSamples}
	order := epochRNG(seed, epoch, purposeShardOrder).Perm(len(shards))
	if mode == dealSamples {
		d.order = order
		return d
	}
	for _, o := range order {
		if !skip.has(o) {
			d.order = append(d.order, o)
		}
	}
	d.sizes = shardSizes(shards)
	d.parts = make([][]part, world)
	tail := len(d.order) % world
	whole := len(d.order) - tail
	load := make([]int64, world)
	for _, o := range d.order[:whole] {
		g := 0
		for h := 1; h < world; h++ {
			if load[h] < load[g] {
				g = h
			}
		}
		load[g] += d.sizes[o]
		d.parts[g] = append(d.parts[g], part{shard: o, lo: 0, hi: world})
	}
	// The shared tail: piece q = t*world + p is residue p of tail shard t.
	for g := range world {
		for q := g * tail; q < (g+1)*tail; {
			t, p := q/world, q%world
			end := min((g+1)*tail, (t+1)*world)
			d.parts[g] = append(d.parts[g], part{shard: d.order[whole+t], lo: p, hi: p + end - q})
			q = end
		}
	}
	return d
}

// DealsShards reports whether src's epochs are dealt to replicas by whole shard.
func DealsShards(src Source) bool { return modeOf(src.Shards(), false) == dealShards }

// StoredBytes returns the stored size of src's shards, and whether every shard knows its
// size (tar archives do; folders and S3 objects do not).
func StoredBytes(src Source) (int64, bool) {
	var n int64
	for _, s := range src.Shards() {
		sz, ok := s.(sizedShard)
		if !ok || sz.size() <= 0 {
			return 0, false
		}
		n += sz.size()
	}
	return n, true
}

// shardSizes returns the shards' sizes, or 1 for each when any size is unknown.
func shardSizes(shards []Shard) []int64 {
	out := make([]int64, len(shards))
	for i, s := range shards {
		sz, ok := s.(sizedShard)
		if !ok || sz.size() <= 0 {
			for j := range out {
				out[j] = 1
			}
			return out
		}
		out[i] = sz.size()
	}
	return out
}

// replicaReader yields replica g's samples of one deal in their order before the shuffle
// buffer, and keeps count of what it has taken from the source.
type replicaReader struct {
	d            *deal
	g            int
	onShardError func(shard string, err error) error // non-nil: the stream stops with it
	readBytes    *atomic.Int64                       // bytes of shard streams read, for Stats

	next    int // into the parts (shard mode) or the order (sample mode)
	cur     Records
	curName string
	curPart part
	member  int64 // index of the next record within the current shard
	kept    int64 // samples yielded
	index   int64 // sample mode: index of the next record in the epoch's stream
	counted int64 // bytes of the current shard already added to readBytes

	opened shardSet // shard mode: shards opened, the deal's skip included
	taken  int64    // sample mode: one past the last index read
}

func (d *deal) reader(g int, onShardError func(string, error) error, readBytes *atomic.Int64) *replicaReader {
	return &replicaReader{d: d, g: g, onShardError: onShardError, readBytes: readBytes, opened: d.skip, taken: d.skipSamples}
}

// read returns the replica's next sample, or io.EOF.
func (r *replicaReader) read(ctx context.Context) (item, error) {
	for {
		if r.cur == nil {
			if err := r.open(ctx); err != nil {
				return item{}, err
			}
			continue
		}
		rec, err := r.cur.Next(ctx)
		r.count()
		if err != nil {
			r.closeShard()
			if ctx.Err() != nil {
				return item{}, ctx.Err()
			}
			if !errors.Is(err, io.EOF) {
				if err := r.onShardError(r.curName, err); err != nil {
					return item{}, err
				}
			}
			continue
		}
		if it, ok := r.keep(rec); ok {
			return it, nil
		}
	}
}

// open opens the next shard of the replica's list, or returns io.EOF after the last.
func (r *replicaReader) open(ctx context.Context) error {
	d := r.d
	var sh Shard
	switch d.mode {
	case dealShards:
		if r.next >= len(d.parts[r.g]) {
			return io.EOF
		}
		r.curPart = d.parts[r.g][r.next]
		sh = d.shards[r.curPart.shard]
		r.opened = r.opened.with(r.curPart.shard)
	default:
		if r.next >= len(d.order) {
			return io.EOF
		}
		sh = d.shards[d.order[r.next]]
	}
	r.next++
	rs, err := sh.Open(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return r.onShardError(sh.Name(), err)
	}
	r.cur, r.curName, r.member, r.counted = rs, sh.Name(), 0, 0
	return nil
}

// keep decides whether rec is the replica's, and numbers it.
func (r *replicaReader) keep(rec Record) (item, bool) {
	d := r.d
	w := int64(d.world)
	if d.mode == dealShards {
		m := r.member
		r.member++
		if res := int(m % w); res < r.curPart.lo || res >= r.curPart.hi {
			return item{}, false
		}
		// Unique within the deal; the stream's position for a world of one.
		i := r.kept*w + int64(r.g)
		r.kept++
		return item{rec: rec, index: i, shard: r.curName}, true
	}
	i := r.index
	r.index++
	if i < d.skipSamples || (i-d.skipSamples)%w != int64(r.g) {
		return item{}, false
	}
	r.kept++
	r.taken = i + 1
	return item{rec: rec, index: i, shard: r.curName}, true
}

// count adds the bytes the current shard's stream has read since the last call.
func (r *replicaReader) count() {
	c, ok := r.cur.(byteCounter)
	if !ok || r.readBytes == nil {
		return
	}
	n := c.bytesRead()
	r.readBytes.Add(n - r.counted)
	r.counted = n
}

func (r *replicaReader) closeShard() {
	if r.cur != nil {
		r.cur.Close()
		r.cur = nil
	}
}

// byteCounter is a Records that counts the bytes it has read from storage.
type byteCounter interface{ bytesRead() int64 }

// state is what the reader has taken so far (see takenBy).
func (r *replicaReader) state() takenState { return takenState{r.opened, r.taken} }

// takenBy returns the taken part of a position for these readers: the shards they opened,
// or one past the last sample they read.
func takenBy(readers []*replicaReader) (shards shardSet, samples int64) {
	for _, r := range readers {
		shards = shards.union(r.opened)
		samples = max(samples, r.taken)
	}
	return shards, samples
}

// checkPosition validates a resumed position against the source.
func checkPosition(p Position, n int) error {
	for _, s := range []string{p.SkipShards, p.TakenShards} {
		if err := shardSet(s).validate(n); err != nil {
			return err
		}
	}
	if p.Consumed < 0 || p.SkipSamples < 0 || p.TakenSamples < 0 || p.World < 0 {
		return fmt.Errorf("loader: position %+v: counts must not be negative", p)
	}
	r, err := parseReplaced(p.Replaced)
	if err != nil {
		return err
	}
	if len(r) > p.world() {
		return fmt.Errorf("loader: position %+v: replaced counts for %d replicas in a world of %d", p, len(r), p.world())
	}
	return nil
}
