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

	pos     Position  // the loader's position once this batch is delivered
	used    []bool    // per slot: a sample was dispatched into it (failures included)
	skips   []skipped // per slot, reason "" for a good sample
	pending atomic.Int64
	done    chan struct{}
	mu      sync.Mutex
	fatal   error // a broken invariant met while filling; Next returns it
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

// newBatch allocates a batch for up to n samples of size×size.
func newBatch(n, size int) *Batch {
	per := 3 * size * size
	return &Batch{
		Size:   size,
		Views:  [2][]float32{make([]float32, n*per), make([]float32, n*per)},
		Labels: make([]int, n),
		Keys:   make([]string, n),
		used:   make([]bool, n),
		skips:  make([]skipped, n),
	}
}

// reset prepares a pooled batch for filling: one pending token held until seal.
func (b *Batch) reset(epoch int) {
	b.N, b.Epoch, b.fatal = 0, epoch, nil
	b.pos = Position{}
	clear(b.used)
	clear(b.skips)
	clear(b.Keys)
	b.done = make(chan struct{})
	b.pending.Store(1)
}

// reserve marks slot as taken by a task. Each slot is reserved by one goroutine, the one
// filling that replica's part of the batch.
func (b *Batch) reserve(slot int) {
	b.pending.Add(1)
	b.used[slot] = true
}

// finish marks one task (or the seal) complete; the last closes done.
func (b *Batch) finish() {
	if b.pending.Add(-1) == 0 {
		close(b.done)
	}
}

// seal says no more tasks will be added and records the position after the batch.
func (b *Batch) seal(pos Position) {
	b.pos = pos
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

// compact moves the good samples to the front, keeping their order, and sets N.
func (b *Batch) compact() {
	per := 3 * b.Size * b.Size
	n := 0
	for i := range b.used {
		if !b.used[i] || b.skips[i].reason != "" {
			continue
		}
		if n != i {
			copy(b.Views[0][n*per:(n+1)*per], b.Views[0][i*per:(i+1)*per])
			copy(b.Views[1][n*per:(n+1)*per], b.Views[1][i*per:(i+1)*per])
			b.Labels[n], b.Keys[n] = b.Labels[i], b.Keys[i]
		}
		n++
	}
	b.N = n
}

// trim slices the exported fields to N samples; untrim restores the capacity for reuse.
func (b *Batch) trim() {
	per := 3 * b.Size * b.Size
	b.Views[0], b.Views[1] = b.Views[0][:b.N*per], b.Views[1][:b.N*per]
	b.Labels, b.Keys = b.Labels[:b.N], b.Keys[:b.N]
}

func (b *Batch) untrim() {
	b.Views[0], b.Views[1] = b.Views[0][:cap(b.Views[0])], b.Views[1][:cap(b.Views[1])]
	b.Labels, b.Keys = b.Labels[:cap(b.Labels)], b.Keys[:cap(b.Keys)]
}
