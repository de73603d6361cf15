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
	BatchSize     int // samples per global batch, over every replica of the world; required
	Workers       int // decode+augment goroutines; 0 = one per core
	ShuffleBuffer int // samples mixed at a time, per replica; 0 or 1 = no mixing beyond the shard order

	// World is the number of data-parallel replicas over all processes (ranks × replicas per
	// rank; default Replicas). This loader feeds Replicas consecutive replicas (default 1)
	// from global index Replica on: each reads its own share of every epoch (see deal.go), and
	// each batch holds their parts of the global batch, BatchSize/World samples each, in
	// replica order. So one process with two replicas and two processes with one each read
	// the same samples into the same places.
	World, Replica, Replicas int

	// SampleSplit deals every epoch by sample even where whole shards could be dealt (for
	// measuring one against the other).
	SampleSplit bool

	// Agree, when set, joins this loader's answer to "has the epoch another batch?" to the
	// other processes' of the world and returns the world's (true when any says true). Every
	// process calls it once per batch, in the same order; batches of the epoch that this
	// process has no samples for are then delivered empty, so that all step together. It
	// must return when ctx ends (Close).
	Agree func(ctx context.Context, more bool) (bool, error)

	Epochs int // stop after this epoch number (absolute); 0 = cycle forever
	// Start is the resume point. With Start.World equal to World (or both one) the loader
	// continues exactly: each replica replays, without decoding, its share of the
	// Start.Consumed samples. With another world size it deals the rest of Start's epoch
	// afresh: what the old world had taken (Start.TakenShards or TakenSamples) is left out,
	// everything else is read once (see Position).
	Start Position

	Augment configs.Augment
}

// prefetch is how many batches may be queued ahead of the consumer (being filled or ready).
const prefetch = 2

// ErrClosed is returned by Next after Close.
var ErrClosed = errors.New("loader: closed")

// Loader streams batches of augmented views (two, or multi-crop's groups) from a Source. Next, Release, Position and
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
	sizes   []int // of the views of every sample
}

// task is one sample for a fetcher and then a worker.
type task struct {
	b       *Batch
	slot    int
	it      item
	epoch   int
	replica int // of this loader's, for Stats
	data    []byte
	err     error
}

// New starts a loader over src. It validates opt, fills defaults and starts the dispatcher,
// the fetchers and the worker pool, which run until Close (ctx passes its values, not its
// cancellation: Next takes the context that bounds each wait).
func New(ctx context.Context, src Source, opt Options) (*Loader, error) {
	if opt.ImageSize < 1 || opt.BatchSize < 1 {
		return nil, fmt.Errorf("loader: image size %d and batch size %d must be positive", opt.ImageSize, opt.BatchSize)
	}
	if opt.Replicas == 0 {
		opt.Replicas = 1
	}
	if opt.World == 0 {
		opt.World = opt.Replicas
	}
	if opt.Replicas < 1 || opt.Replica < 0 || opt.Replica+opt.Replicas > opt.World {
		return nil, fmt.Errorf("loader: replicas %d..%d of a world of %d: want 0 <= first <= last < world", opt.Replica, opt.Replica+opt.Replicas-1, opt.World)
	}
	if opt.BatchSize%opt.World != 0 {
		return nil, fmt.Errorf("loader: batch size %d does not divide over the world's %d replicas", opt.BatchSize, opt.World)
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	if opt.Epochs < 0 || opt.Start.Epoch < 0 {
		return nil, fmt.Errorf("loader: epochs %d, start %+v: must not be negative", opt.Epochs, opt.Start)
	}
	if err := checkPosition(opt.Start, len(src.Shards())); err != nil {
		return nil, err
	}
	if opt.Start.world() == opt.World && opt.Start.Consumed%int64(opt.BatchSize) != 0 {
		return nil, fmt.Errorf("loader: start position %+v is not after a whole batch of %d", opt.Start, opt.BatchSize)
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
		tasks: make(chan task, opt.BatchSize/opt.World*opt.Replicas),
		work:  make(chan task, 2*opt.Workers),
		free:  make(chan *Batch, prefetch+2),
		pos:   opt.Start,
		stats: newStats(opt.Replicas),
	}
	for _, v := range p.Views() {
		l.sizes = append(l.sizes, v.Size)
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
// below the batch size, and so is the last batch of an epoch, or of a replica's share of it.
// A batch of no samples is passed over, except with Options.Agree.
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
		for i := range b.used {
			if s := b.skips[i]; b.used[i] && s.reason != "" {
				l.stats.skip(s.reason, s.where)
			}
		}
		l.pos = b.pos
		l.stats.delivered(b.N)
		if b.N == 0 && l.opt.Agree == nil {
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

// Len returns the samples of one epoch, over the whole world (before bad samples are left
// out). Tar sources need a pass over their headers.
func (l *Loader) Len(ctx context.Context) (int64, error) { return l.src.Len(ctx) }

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
		b = newBatch(l.part()*l.opt.Replicas, l.sizes)
	}
	b.reset(epoch)
	return b
}

// dispatch reads the epochs' streams in order and hands each sample to the pool with its
// batch and slot. It (with one goroutine per replica stream while a batch is filled) is the
// only reader of the source, which keeps the order deterministic.
func (l *Loader) dispatch() {
	defer close(l.tasks)
	defer close(l.ready)
	err := l.epochs()
	if err == nil || l.ctx.Err() != nil {
		err = io.EOF
	}
	l.endErr = err
}

// part is the samples each replica contributes to a batch.
func (l *Loader) part() int { return l.opt.BatchSize / l.opt.World }

func (l *Loader) epochs() error {
	mode := modeOf(l.src.Shards(), l.opt.SampleSplit)
	start, replay, err := l.resumePoint(mode)
	if err != nil {
		return err
	}
	for epoch := start.Epoch; l.opt.Epochs == 0 || epoch < l.opt.Epochs; epoch++ {
		d := newDeal(l.src.Shards(), mode, l.opt.Seed, epoch, l.opt.World, "", 0)
		skip := int64(0)
		if epoch == start.Epoch {
			d = newDeal(l.src.Shards(), mode, l.opt.Seed, epoch, l.opt.World, shardSet(start.SkipShards), start.SkipSamples)
			skip = replay
		}
		n, err := l.epoch(d, epoch, skip)
		if err != nil {
			return err
		}
		resumed := d.skip != "" || d.skipSamples > 0 || skip > 0 // the rest of an epoch may be nothing
		if n == 0 && l.opt.Agree == nil && !resumed {
			return fmt.Errorf("loader: epoch %d gave this loader (replicas %d..%d of %d) no samples: %w", epoch, l.opt.Replica, l.opt.Replica+l.opt.Replicas-1, l.opt.World, ErrNoSource)
		}
	}
	return nil
}

// resumePoint turns Options.Start into the position this world's deal starts from and the
// samples each replica replays. A position of another world size becomes a fresh deal of
// the rest of its epoch; one written before positions said what was taken (a world of one)
// has its taken part found by replaying that world's stream.
func (l *Loader) resumePoint(mode dealMode) (Position, int64, error) {
	p := l.opt.Start
	if p.world() == l.opt.World {
		return p, p.Consumed / int64(l.opt.World), nil
	}
	if p.Consumed > 0 && p.World == 0 {
		d := newDeal(l.src.Shards(), mode, l.opt.Seed, p.Epoch, 1, shardSet(p.SkipShards), p.SkipSamples)
		r := d.reader(0, func(string, error) {}, nil)
		s := newEpochStream(r, l.opt.Seed, p.Epoch, l.opt.ShuffleBuffer)
		err := replayStream(l.ctx, s, p.Consumed)
		s.Close()
		if err != nil {
			return Position{}, 0, err
		}
		shards, samples := takenBy([]*replicaReader{r})
		p.TakenShards, p.TakenSamples = shards.String(), samples
	}
	return Position{Epoch: p.Epoch, World: l.opt.World, SkipShards: p.TakenShards, SkipSamples: p.TakenSamples}, 0, nil
}

// replayStream pops n samples of s (fewer if it ends), reading but not fetching or decoding.
func replayStream(ctx context.Context, s *epochStream, n int64) error {
	for range n {
		if _, err := s.Next(ctx); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
	return nil
}

// epoch dispatches one epoch of deal d, whose first skip samples per replica are replayed
// unread, and returns how many samples its streams held for this loader's replicas.
func (l *Loader) epoch(d *deal, epoch int, skip int64) (int64, error) {
	ctx := l.ctx
	onShardError := func(shard string, err error) { l.stats.skip(SkipUnreadableShard, fmt.Sprintf("%s: %v", shard, err)) }
	hooks, _ := l.src.(epochHooks)
	// The source can tell what it lacked only when this loader reads all of a fresh epoch.
	whole := hooks != nil && l.opt.Replicas == l.opt.World && d.skip == "" && d.skipSamples == 0
	if whole {
		hooks.beginEpoch()
	}
	readers := make([]*replicaReader, l.opt.Replicas)
	streams := make([]*epochStream, l.opt.Replicas)
	for i := range streams {
		readers[i] = d.reader(l.opt.Replica+i, onShardError, &l.stats.read[i])
		streams[i] = newEpochStream(readers[i], l.opt.Seed, epoch, l.opt.ShuffleBuffer)
	}
	defer func() {
		for _, s := range streams {
			s.Close()
		}
	}()
	consumed := skip * int64(l.opt.World)
	err := l.eachStream(streams, func(_ int, s *epochStream) error { return replayStream(ctx, s, skip) })
	if err != nil {
		return 0, err
	}
	more, err := l.more(ctx, streams)
	if err != nil {
		return 0, err
	}
	var n int64
	per := l.part()
	for more {
		b := l.getBatch(epoch)
		select {
		case l.ready <- b:
		case <-ctx.Done():
			return n, ctx.Err()
		}
		filled := make([]int, len(streams))
		err := l.eachStream(streams, func(i int, s *epochStream) error {
			for j := range per {
				it, err := s.Next(ctx)
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
				slot := i*per + j
				b.reserve(slot)
				filled[i]++
				select {
				case l.tasks <- task{b: b, slot: slot, it: it, epoch: epoch, replica: i}:
				case <-ctx.Done():
					b.finish()
					return ctx.Err()
				}
			}
			return nil
		})
		for _, k := range filled {
			n += int64(k)
		}
		if err == nil {
			more, err = l.more(ctx, streams)
		}
		if err != nil {
			if ctx.Err() == nil {
				b.fail(err)
			}
			b.seal(Position{Epoch: epoch, Consumed: consumed, World: l.opt.World})
			return n, err
		}
		consumed += int64(l.opt.BatchSize)
		pos := Position{Epoch: epoch + 1, World: l.opt.World}
		if more {
			shards, samples := takenBy(readers)
			pos = Position{Epoch: epoch, Consumed: consumed, World: l.opt.World,
				SkipShards: d.skip.String(), SkipSamples: d.skipSamples,
				TakenShards: shards.String(), TakenSamples: samples}
		}
		b.seal(pos)
	}
	if whole {
		hooks.endEpoch(l.stats.skip)
	}
	return n, nil
}

// eachStream runs fn on every replica stream, in parallel when there are several, and
// returns the first error.
func (l *Loader) eachStream(streams []*epochStream, fn func(i int, s *epochStream) error) error {
	if len(streams) == 1 {
		return fn(0, streams[0])
	}
	errs := make([]error, len(streams))
	var wg sync.WaitGroup
	for i, s := range streams {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = fn(i, s) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// more reports whether any replica of the world has another sample this epoch.
func (l *Loader) more(ctx context.Context, streams []*epochStream) (bool, error) {
	any := false
	for _, s := range streams {
		m, err := s.More(ctx)
		if err != nil {
			return false, err
		}
		any = any || m
	}
	if l.opt.Agree != nil {
		return l.opt.Agree(ctx, any)
	}
	return any, nil
}
