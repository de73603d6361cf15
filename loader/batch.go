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

// newBatch allocates a batch for up to n samples of views of the given sides, the first size.
func newBatch(n int, sizes []int) *Batch {
	views := make([][]float32, len(sizes))
	for v, s := range sizes {
		views[v] = make([]float32, n*3*s*s)
	}
	return &Batch{
		Size:   sizes[0],
		Sizes:  sizes,
		Views:  views,
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
	n := 0
	for i := range b.used {
		if !b.used[i] || b.skips[i].reason != "" {
			continue
		}
		if n != i {
			for v, x := range b.Views {
				per := 3 * b.Sizes[v] * b.Sizes[v]
				copy(x[n*per:(n+1)*per], x[i*per:(i+1)*per])
			}
			b.Labels[n], b.Keys[n] = b.Labels[i], b.Keys[i]
		}
		n++
	}
	b.N = n
}

// trim slices the exported fields to N samples; untrim restores the capacity for reuse.
func (b *Batch) trim() {
	for v, x := range b.Views {
		b.Views[v] = x[:b.N*3*b.Sizes[v]*b.Sizes[v]]
	}
	b.Labels, b.Keys = b.Labels[:b.N], b.Keys[:b.N]
}

func (b *Batch) untrim() {
	for v, x := range b.Views {
		b.Views[v] = x[:cap(x)]
	}
	b.Labels, b.Keys = b.Labels[:cap(b.Labels)], b.Keys[:cap(b.Keys)]
}
