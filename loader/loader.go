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
	head    *Batch // complete chunk whose good samples begin the next batch
	spare   *Batch // complete chunk after head, part of whose good samples went to a batch
	pos     Position
	stats   *stats
	bad     badCounts
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
// loader. A sample that cannot be read or decoded is replaced by the next good one of the
// stream (see Stats for what was left out), so a batch holds BatchSize samples except the last
// of an epoch, which holds what is left.
func (l *Loader) Next(ctx context.Context) (*Batch, error) {
	start := time.Now()
	defer func() { l.stats.addWait(time.Since(start)) }()
	return l.assemble(ctx)
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

// getBatch takes a chunk from the pool, or allocates one, for samples of epoch from stream
// position start on.
func (l *Loader) getBatch(epoch int, start int64) *Batch {
	var b *Batch
	select {
	case b = <-l.free:
	default:
		b = newBatch(l.opt.BatchSize+slack(l.opt.BatchSize), l.opt.ImageSize)
	}
	b.reset(epoch, start)
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
		// A shard whose storage stayed unreachable stops the loader (its samples are not bad
		// input, and skipping them would change the run); a damaged one is skipped, counted
		// and named.
		onShardError := func(shard string, err error) error {
			if errors.Is(err, ErrUnavailable) {
				return fmt.Errorf("loader: shard %s: %w", shard, err)
			}
			l.stats.skip(SkipUnreadableShard, fmt.Sprintf("%s: %v", shard, err))
			return nil
		}
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
// It cuts the stream into chunks of BatchSize samples, plus one for each bad sample the
// workers have found in the epoch so far and no chunk has made up for yet (up to the chunk's
// slack): batches are the stream's good samples BatchSize at a time, and chunks that hold that
// many good samples are handed out as they are, without copying.
func (l *Loader) epoch(ctx context.Context, s *epochStream, epoch int, skip int64) (int64, error) {
	var consumed, madeUp int64
	var b *Batch
	target := 0
	l.bad.begin(epoch)
	for {
		it, err := s.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			if b != nil {
				b.fail(err)
				b.seal(false)
			}
			return consumed, err
		}
		consumed++
		if consumed <= skip {
			continue
		}
		if b == nil {
			b = l.getBatch(epoch, consumed-1)
			extra := min(l.bad.in(epoch)-madeUp, int64(slack(l.opt.BatchSize)))
			madeUp += extra
			target = l.opt.BatchSize + int(extra)
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
			b.seal(false)
			return consumed, ctx.Err()
		}
		if b.slots == target {
			more, err := s.More(ctx)
			if err != nil {
				b.fail(err)
				b.seal(false)
				return consumed, err
			}
			b.seal(!more)
			b = nil
		}
	}
	if b != nil {
		b.seal(true)
	}
	return consumed, nil
}
