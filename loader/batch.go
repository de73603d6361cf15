package loader

import (
	"sync"
	"sync/atomic"
)

// Batch is N samples, each as augmented views, NCHW float32, normalised as augment
// normalises: two views of Size×Size pixels, or with multi-crop the views of every group in
// order (view v of Sizes[v] pixels). A batch never spans two epochs. Its memory belongs to the
// loader's pool: hand it back with Loader.Release when done.
type Batch struct {
	N, Size int
	Sizes   []int       // the side of each view
	Views   [][]float32 // view v: N*3*Sizes[v]² floats
	Labels  []int       // -1 when unknown
	Keys    []string    // where each sample came from, relative to the source
	Epoch   int

	pos  Position // the loader's position once this batch is delivered
	pool chan *Batch
	refs atomic.Int32 // holders: the assembler, the consumer; the last returns it to pool

	// The memory at full capacity; Views, Labels and Keys show a part of it.
	views  [][]float32
	labels []int
	keys   []string

	// A segment is a run of consecutive samples of one replica's stream that the dispatcher
	// fills and the workers decode in place; the assembler takes the good ones, in order,
	// into batches. The fields below are the segment's.
	n       int          // samples dispatched into it
	ended   bool         // the replica's stream has no sample after these, this epoch
	start   int64        // the stream's samples before the segment's first (the replay included)
	taken   takenState   // what the replica's reader had taken before the first sample
	after   []takenState // per sample: what the reader had taken once it was drawn
	skips   []skipped    // per sample, reason "" for a good one
	deal    dealSkip     // what the epoch's deal leaves out
	base    int64        // Position.Consumed at the epoch's start (from a resumed position)
	pending atomic.Int64
	done    chan struct{}
	mu      sync.Mutex
	fatal   error // a broken invariant met while filling; the loader stops with it
}

// takenState is what a replica's reader had taken from the source at one point of its stream:
// the shards it had opened, or one past the last sample it had read.
type takenState struct {
	shards  shardSet
	samples int64
}

// dealSkip is what a deal leaves out because an earlier world took it (see Position).
type dealSkip struct {
	shards  shardSet
	samples int64
}

// skipped says why a slot holds no sample.
type skipped struct {
	reason, where string
}

// Replica returns replica r's part of the batch for R data-parallel replicas: samples
// [r*N/R, (r+1)*N/R), sharing the batch's memory. The parts of r = 0..R-1 are disjoint and
// cover the batch.
func (b *Batch) Replica(r, R int) *Batch {
	if R < 1 || r < 0 || r >= R {
		panic("loader: Replica(r, R) needs 0 <= r < R")
	}
	lo, hi := r*b.N/R, (r+1)*b.N/R
	views := make([][]float32, len(b.Views))
	for v, x := range b.Views {
		per := 3 * b.Sizes[v] * b.Sizes[v]
		views[v] = x[lo*per : hi*per]
	}
	return &Batch{
		N:      hi - lo,
		Size:   b.Size,
		Sizes:  b.Sizes,
		Views:  views,
		Labels: b.Labels[lo:hi],
		Keys:   b.Keys[lo:hi],
		Epoch:  b.Epoch,
		pos:    b.pos,
	}
}

// newBatch allocates room for n samples of views of the given sides (the first is Size),
// returned to pool when released.
func newBatch(n int, sizes []int, pool chan *Batch) *Batch {
	views := make([][]float32, len(sizes))
	for v, s := range sizes {
		views[v] = make([]float32, n*3*s*s)
	}
	b := &Batch{
		Size:   sizes[0],
		Sizes:  sizes,
		Views:  make([][]float32, len(sizes)),
		pool:   pool,
		views:  views,
		labels: make([]int, n),
		keys:   make([]string, n),
		after:  make([]takenState, n),
		skips:  make([]skipped, n),
	}
	b.untrim()
	return b
}

// capacity is how many samples the batch holds.
func (b *Batch) capacity() int { return len(b.labels) }

// reset prepares a pooled batch for use: one holder, and as a segment of epoch one pending
// token held until seal.
func (b *Batch) reset(epoch int) {
	b.N, b.n, b.Epoch, b.fatal, b.ended = 0, 0, epoch, nil, false
	b.pos, b.start, b.taken, b.deal, b.base = Position{}, 0, takenState{}, dealSkip{}, 0
	clear(b.skips)
	clear(b.keys)
	b.untrim()
	b.refs.Store(1)
	b.done = make(chan struct{})
	b.pending.Store(1)
}

// release drops one holder; the last returns the batch to its pool.
func (b *Batch) release() {
	if b.refs.Add(-1) != 0 {
		return
	}
	select {
	case b.pool <- b:
	default:
	}
}

// reserve adds the segment's next sample, drawn once the reader had taken t, and returns
// its slot. Only the replica's dispatching goroutine calls it.
func (b *Batch) reserve(t takenState) int {
	b.pending.Add(1)
	k := b.n
	b.after[k] = t
	b.n++
	return k
}

// finish marks one task (or the seal) complete; the last closes done.
func (b *Batch) finish() {
	if b.pending.Add(-1) == 0 {
		close(b.done)
	}
}

// seal says no more samples will be added; ended says the stream has none after them.
func (b *Batch) seal(ended bool) {
	b.ended = ended
	b.finish()
}

// fail records a broken invariant; the loader then stops with it.
func (b *Batch) fail(err error) {
	b.mu.Lock()
	if b.fatal == nil {
		b.fatal = err
	}
	b.mu.Unlock()
}

// good reports whether sample k of the segment was decoded.
func (b *Batch) good(k int) bool { return b.skips[k].reason == "" }

// copyFrom copies sample k of src into slot i.
func (b *Batch) copyFrom(i int, src *Batch, k int) {
	for v := range b.views {
		per := 3 * b.Sizes[v] * b.Sizes[v]
		copy(b.views[v][i*per:(i+1)*per], src.views[v][k*per:(k+1)*per])
	}
	b.labels[i], b.keys[i] = src.labels[k], src.keys[k]
}

// move copies n samples from slot from to slot to (to <= from).
func (b *Batch) move(from, to, n int) {
	for v := range b.views {
		per := 3 * b.Sizes[v] * b.Sizes[v]
		copy(b.views[v][to*per:(to+n)*per], b.views[v][from*per:(from+n)*per])
	}
	copy(b.labels[to:to+n], b.labels[from:from+n])
	copy(b.keys[to:to+n], b.keys[from:from+n])
}

// trim makes the exported fields show the first n samples; untrim restores the whole memory.
func (b *Batch) trim(n int) {
	b.N = n
	for v, x := range b.views {
		b.Views[v] = x[:n*3*b.Sizes[v]*b.Sizes[v]]
	}
	b.Labels, b.Keys = b.labels[:n], b.keys[:n]
}

func (b *Batch) untrim() {
	copy(b.Views, b.views)
	b.Labels, b.Keys = b.labels, b.keys
}
