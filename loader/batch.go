package loader

import (
	"sync"
	"sync/atomic"
)

// Batch is N samples, each as two augmented views of Size×Size pixels, NCHW float32,
// normalised as augment normalises. A batch never spans two epochs. Its memory belongs to the
// loader's pool: hand it back with Loader.Release when done.
type Batch struct {
	N, Size int
	Views   [2][]float32 // N*3*Size*Size each
	Labels  []int        // -1 when unknown
	Keys    []string     // where each sample came from, relative to the source
	Epoch   int

	// The rest is the batch as a chunk of the epoch's stream being filled: the dispatcher
	// gives it consecutive samples (slots), workers decode them in place, and the consumer
	// compacts its good samples to the front and hands them out, topped up from the chunks
	// after it, as batches.
	pos     Position  // the loader's position once this batch is delivered
	start   int64     // samples of the epoch's stream before the chunk's first slot
	last    bool      // the chunk ends its epoch's stream
	slots   int       // samples dispatched into the chunk, failures included
	skips   []skipped // per slot, reason "" for a good sample
	after   []int64   // per good sample once compacted: the stream position just after it
	off     int       // good samples [off, N) are not handed out yet
	pending atomic.Int64
	done    chan struct{}
	mu      sync.Mutex
	fatal   error // a broken invariant met while filling; Next returns it

	// The chunk's memory at full capacity; Views, Labels and Keys show a part of it.
	views  [2][]float32
	labels []int
	keys   []string
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
	per := 3 * b.Size * b.Size
	return &Batch{
		N:      hi - lo,
		Size:   b.Size,
		Views:  [2][]float32{b.Views[0][lo*per : hi*per], b.Views[1][lo*per : hi*per]},
		Labels: b.Labels[lo:hi],
		Keys:   b.Keys[lo:hi],
		Epoch:  b.Epoch,
		pos:    b.pos,
	}
}

// newBatch allocates a chunk for up to n samples of size×size.
func newBatch(n, size int) *Batch {
	per := 3 * size * size
	b := &Batch{
		Size:   size,
		views:  [2][]float32{make([]float32, n*per), make([]float32, n*per)},
		labels: make([]int, n),
		keys:   make([]string, n),
		skips:  make([]skipped, n),
		after:  make([]int64, n),
	}
	b.untrim()
	return b
}

// capacity is how many samples the chunk holds.
func (b *Batch) capacity() int { return len(b.skips) }

// reset prepares a pooled chunk for filling from stream position start of epoch: one pending
// token held until seal.
func (b *Batch) reset(epoch int, start int64) {
	b.N, b.slots, b.off, b.Epoch, b.fatal = 0, 0, 0, epoch, nil
	b.start, b.last, b.pos = start, false, Position{}
	clear(b.skips)
	clear(b.keys)
	b.untrim()
	b.done = make(chan struct{})
	b.pending.Store(1)
}

// add reserves the next slot for a task.
func (b *Batch) add() int {
	b.pending.Add(1)
	b.slots++
	return b.slots - 1
}

// finish marks one task (or the seal) complete; the last closes done.
func (b *Batch) finish() {
	if b.pending.Add(-1) == 0 {
		close(b.done)
	}
}

// seal says no more tasks will be added; last says the epoch's stream ends with this chunk.
func (b *Batch) seal(last bool) {
	b.last = last
	b.finish()
}

// fail records a broken invariant; the batch is then not delivered.
func (b *Batch) fail(err error) {
	b.mu.Lock()
	if b.fatal == nil {
		b.fatal = err
	}
	b.mu.Unlock()
}

// compact moves the good samples to the front, keeping their order, sets N and records the
// stream position after each.
func (b *Batch) compact() {
	n := 0
	for i := 0; i < b.slots; i++ {
		if b.skips[i].reason != "" {
			continue
		}
		if n != i {
			b.move(i, n, 1)
		}
		b.after[n] = b.start + int64(i) + 1
		n++
	}
	b.N, b.off = n, 0
}

// move copies k samples from index from to index to within the chunk (to <= from).
func (b *Batch) move(from, to, k int) {
	per := 3 * b.Size * b.Size
	for v := range b.views {
		copy(b.views[v][to*per:(to+k)*per], b.views[v][from*per:(from+k)*per])
	}
	copy(b.labels[to:to+k], b.labels[from:from+k])
	copy(b.keys[to:to+k], b.keys[from:from+k])
	copy(b.after[to:to+k], b.after[from:from+k])
}

// left is how many good samples are not handed out yet.
func (b *Batch) left() int { return b.N - b.off }

// exhausted reports whether the chunk has nothing more to give.
func (b *Batch) exhausted() bool { return b.left() == 0 }

// absorb appends up to k good samples of src (from its next one on) to b's good samples and
// returns how many it took. When b has no room after its last good sample, its samples are
// first moved to its front.
func (b *Batch) absorb(src *Batch, k int) int {
	k = min(k, src.left())
	if b.N+k > b.capacity() {
		b.move(b.off, 0, b.left())
		b.N, b.off = b.left(), 0
	}
	per := 3 * b.Size * b.Size
	for v := range b.views {
		copy(b.views[v][b.N*per:(b.N+k)*per], src.views[v][src.off*per:(src.off+k)*per])
	}
	copy(b.labels[b.N:b.N+k], src.labels[src.off:src.off+k])
	copy(b.keys[b.N:b.N+k], src.keys[src.off:src.off+k])
	copy(b.after[b.N:b.N+k], src.after[src.off:src.off+k])
	b.N += k
	src.off += k
	return k
}

// trim makes the exported fields show good samples [off, off+n) as a batch of n; untrim
// restores the whole chunk for reuse.
func (b *Batch) trim(n int) {
	per := 3 * b.Size * b.Size
	lo := b.off
	b.Views[0], b.Views[1] = b.views[0][lo*per:(lo+n)*per], b.views[1][lo*per:(lo+n)*per]
	b.Labels, b.Keys = b.labels[lo:lo+n], b.keys[lo:lo+n]
	b.N = n
}

func (b *Batch) untrim() {
	b.Views, b.Labels, b.Keys = b.views, b.labels, b.keys
}
