package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/natssl/natssl/augment"
	"github.com/natssl/natssl/configs"
)

// Options configure a Loader. Zero values take the defaults noted.
type Options struct {
	Seed          int64
	ImageSize     int // side of each view in pixels; required
	BatchSize     int // samples per batch for this loader; required
	Workers       int // decode+augment goroutines; 0 = one per core
	ShuffleBuffer int // samples mixed at a time; 0 or 1 = no mixing beyond the shard order

	// Shard and Shards split every epoch between hosts: this loader yields every Shards-th
	// sample of the epoch's stream starting at Shard. Default 0 of 1.
	Shard, Shards int

	Epochs int      // stop after this epoch number (absolute); 0 = cycle forever
	Start  Position // resume point: the first Start.Consumed samples of Start.Epoch are skipped unread

	Augment configs.Augment
}

// Position is how far a loader has gone: Consumed samples of Epoch (this loader's share,
// bad samples included) are behind it. A loader started at a Position continues with
// exactly the batches the original would have produced next.
type Position struct {
	Epoch    int   `json:"epoch"`
	Consumed int64 `json:"consumed"`
}

// prefetch is how many batches may be queued ahead of the consumer (being filled or ready).
const prefetch = 2

// ErrClosed is returned by Next after Close.
var ErrClosed = errors.New("loader: closed")

// Loader streams batches of two augmented views from a Source. Next, Release, Position and
// Stats are for one consumer goroutine; Close may be called from any.
type Loader struct {
	src      Source
	opt      Options
	pipeline *augment.Pipeline

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	ready  chan *Batch // in delivery order
	tasks  chan task
	work   chan task
	free   chan *Batch
	wg     sync.WaitGroup

	endErr  error  // io.EOF or the dispatcher's error; read after ready is closed
	waiting *Batch // taken from ready, not yet complete
	pos     Position
	stats   *stats
}

// task is one sample for a fetcher and then a worker.
type task struct {
	b     *Batch
	slot  int
	it    item
	epoch int
	data  []byte
	err   error
}

// New starts a loader over src. It validates opt, fills defaults and starts the dispatcher,
// the fetchers and the worker pool, which run until Close (ctx passes its values, not its
// cancellation: Next takes the context that bounds each wait).
func New(ctx context.Context, src Source, opt Options) (*Loader, error) {
	if opt.ImageSize < 1 || opt.BatchSize < 1 {
		return nil, fmt.Errorf("loader: image size %d and batch size %d must be positive", opt.ImageSize, opt.BatchSize)
	}
	if opt.Shards == 0 {
		opt.Shards = 1
	}
	if opt.Shards < 1 || opt.Shard < 0 || opt.Shard >= opt.Shards {
		return nil, fmt.Errorf("loader: host shard %d of %d: want 0 <= shard < shards", opt.Shard, opt.Shards)
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	if opt.Epochs < 0 || opt.Start.Epoch < 0 || opt.Start.Consumed < 0 {
		return nil, fmt.Errorf("loader: epochs %d, start %+v: must not be negative", opt.Epochs, opt.Start)
	}
	if len(src.Shards()) == 0 {
		return nil, fmt.Errorf("loader: the source has no images: %w", ErrNoSource)
	}
	p, err := augment.New(opt.Augment, opt.ImageSize)
	if err != nil {
		return nil, fmt.Errorf("loader: %w", err)
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l := &Loader{
		src: src, opt: opt, pipeline: p,
		ctx: lctx, cancel: cancel,
		ready: make(chan *Batch, prefetch),
		tasks: make(chan task, opt.BatchSize),
		work:  make(chan task, 2*opt.Workers),
		free:  make(chan *Batch, prefetch+2),
		pos:   opt.Start,
		stats: newStats(),
	}
	fetchers := max(8, 4*opt.Workers) // fetches wait on disks and networks, not cores
	var fetching sync.WaitGroup
	fetching.Add(fetchers)
	for range fetchers {
		go func() { defer fetching.Done(); l.fetch() }()
	}
	l.wg.Add(opt.Workers + 2)
	go func() { defer l.wg.Done(); fetching.Wait(); close(l.work) }()
	for range opt.Workers {
		go func() { defer l.wg.Done(); l.augment() }()
	}
	go func() { defer l.wg.Done(); l.dispatch() }()
	return l, nil
}

// Next returns the next batch, io.EOF after the last epoch, or the error that stopped the
// loader. Samples that could not be read or decoded are left out (see Stats), so N may be
// below the batch size; the last batch of an epoch holds what is left.
func (l *Loader) Next(ctx context.Context) (*Batch, error) {
	start := time.Now()
	defer func() { l.stats.addWait(time.Since(start)) }()
	for {
		if l.ctx.Err() != nil {
			return nil, ErrClosed
		}
		b := l.waiting
		if b == nil {
			var ok bool
			select {
			case b, ok = <-l.ready:
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-l.ctx.Done():
				return nil, ErrClosed
			}
			if !ok {
				return nil, l.endErr
			}
			l.waiting = b // kept until done, so that a cancelled Next loses nothing
		}
		select {
		case <-b.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-l.ctx.Done():
			return nil, ErrClosed
		}
		l.waiting = nil
		if b.fatal != nil {
			return nil, b.fatal
		}
		b.compact()
		for i := 0; i < b.slots; i++ {
			if s := b.skips[i]; s.reason != "" {
				l.stats.skip(s.reason, s.where)
			}
		}
		l.pos = b.pos
		l.stats.delivered(b.N)
		if b.N == 0 {
			l.Release(b)
			continue
		}
		b.trim()
		return b, nil
	}
}

// Release returns a batch's memory to the pool. The batch must not be used afterwards.
func (l *Loader) Release(b *Batch) {
	if b == nil || b.skips == nil {
		return // a Replica view, or nothing
	}
	b.untrim()
	select {
	case l.free <- b:
	default:
	}
}

// Position is the position just after the last batch Next returned.
func (l *Loader) Position() Position { return l.pos }

// Len returns the samples per epoch this loader yields (its share of the source, before
// bad samples are left out). Tar sources need a pass over their headers.
func (l *Loader) Len(ctx context.Context) (int64, error) {
	n, err := l.src.Len(ctx)
	if err != nil {
		return 0, err
	}
	return hostShare(n, l.opt.Shard, l.opt.Shards), nil
}

// hostShare counts the indexes i in [0, n) with i % shards == shard.
func hostShare(n int64, shard, shards int) int64 {
	if n <= int64(shard) {
		return 0
	}
	return (n - int64(shard) + int64(shards) - 1) / int64(shards)
}

// Close stops every goroutine of the loader and waits for them. It does not close the Source.
func (l *Loader) Close() error {
	l.cancel()
	l.wg.Wait()
	return nil
}

// epochHooks is a source that learns from an epoch's stream what it lacked: a manifest
// whose entries are matched against archive members reports those no archive held.
type epochHooks interface {
	beginEpoch()
	endEpoch(report func(reason, where string))
}

// getBatch takes a batch from the pool, or allocates one.
func (l *Loader) getBatch(epoch int) *Batch {
	var b *Batch
	select {
	case b = <-l.free:
	default:
		b = newBatch(l.opt.BatchSize, l.opt.ImageSize)
	}
	b.reset(epoch)
	return b
}

// dispatch reads the epochs' streams in order and hands each sample to the pool with its
// batch and slot. It is the only reader of the source, which keeps the order deterministic.
func (l *Loader) dispatch() {
	defer close(l.tasks)
	defer close(l.ready)
	err := l.epochs()
	if err == nil || l.ctx.Err() != nil {
		err = io.EOF
	}
	l.endErr = err
}

func (l *Loader) epochs() error {
	ctx := l.ctx
	for epoch := l.opt.Start.Epoch; l.opt.Epochs == 0 || epoch < l.opt.Epochs; epoch++ {
		skip := int64(0)
		if epoch == l.opt.Start.Epoch {
			skip = l.opt.Start.Consumed
		}
		onShardError := func(shard string, err error) { l.stats.skip("unreadable_shard", fmt.Sprintf("%s: %v", shard, err)) }
		hooks, _ := l.src.(epochHooks)
		if hooks != nil {
			hooks.beginEpoch()
		}
		s := newEpochStream(l.src.Shards(), l.opt.Seed, epoch, l.opt.ShuffleBuffer, l.opt.Shard, l.opt.Shards, onShardError)
		n, err := l.epoch(ctx, s, epoch, skip)
		s.Close()
		if err != nil {
			return err
		}
		if hooks != nil {
			hooks.endEpoch(l.stats.skip)
		}
		if n == 0 {
			return fmt.Errorf("loader: epoch %d gave this loader (shard %d of %d) no samples: %w", epoch, l.opt.Shard, l.opt.Shards, ErrNoSource)
		}
	}
	return nil
}

// epoch dispatches one epoch and returns how many samples its stream held for this loader.
func (l *Loader) epoch(ctx context.Context, s *epochStream, epoch int, skip int64) (int64, error) {
	var consumed int64
	var b *Batch
	for {
		it, err := s.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			if b != nil {
				b.fail(err)
				b.seal(Position{epoch, consumed})
			}
			return consumed, err
		}
		consumed++
		if consumed <= skip {
			continue
		}
		if b == nil {
			b = l.getBatch(epoch)
			select {
			case l.ready <- b:
			case <-ctx.Done():
				return consumed, ctx.Err()
			}
		}
		t := task{b: b, slot: b.add(), it: it, epoch: epoch}
		select {
		case l.tasks <- t:
		case <-ctx.Done():
			b.finish()
			b.seal(Position{epoch, consumed})
			return consumed, ctx.Err()
		}
		if b.slots == l.opt.BatchSize {
			more, err := s.More(ctx)
			if err != nil {
				b.fail(err)
				b.seal(Position{epoch, consumed})
				return consumed, err
			}
			pos := Position{epoch, consumed}
			if !more {
				pos = Position{epoch + 1, 0}
			}
			b.seal(pos)
			b = nil
		}
	}
	if b != nil {
		b.seal(Position{epoch + 1, 0})
	}
	return consumed, nil
}
