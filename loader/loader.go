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

// prefetch is how many segments of each replica's stream may be queued ahead of the
// assembler (being filled or decoded).
const prefetch = 2

// ErrClosed is returned by Next after Close.
var ErrClosed = errors.New("loader: closed")

// Loader streams batches of augmented views (two, or multi-crop's groups) from a Source. Next,
// Release, Position and Stats are for one consumer goroutine; Close may be called from any.
//
// Inside, a dispatcher reads each replica's stream into segments (runs of its consecutive
// samples) and hands every sample to the fetchers and then the workers, which decode it into
// its slot; an assembler takes each replica's good samples in stream order, BatchSize/World
// at a time, into the batches Next hands out. Which samples make a batch follows from the
// streams alone, not from timing.
type Loader struct {
	src      Source
	opt      Options
	pipeline *augment.Pipeline

	ctx              context.Context // cancelled by Close
	cancel           context.CancelFunc
	segs             []chan *Batch // per replica of this loader: its stream's segments, in order
	ready            chan *Batch   // assembled batches, in delivery order
	tasks            chan task
	work             chan task
	segFree, outFree chan *Batch
	wg               sync.WaitGroup

	dispatchErr error // io.EOF or the dispatcher's error; read after segs are closed
	endErr      error // io.EOF or the assembler's error; read after ready is closed
	pos         Position
	stats       *stats
	bad         badCounts
	sizes       []int // of the views of every sample
}

// task is one sample for a fetcher and then a worker.
type task struct {
	b       *Batch // its segment
	slot    int
	it      item
	epoch   int
	replica int // of this loader's
	data    []byte
	err     error
}

// New starts a loader over src. It validates opt, fills defaults and starts the dispatcher,
// the fetchers, the worker pool and the assembler, which run until Close (ctx passes its
// values, not its cancellation: Next takes the context that bounds each wait).
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
		segs:    make([]chan *Batch, opt.Replicas),
		ready:   make(chan *Batch, 1),
		tasks:   make(chan task, opt.BatchSize/opt.World*opt.Replicas),
		work:    make(chan task, 2*opt.Workers),
		segFree: make(chan *Batch, opt.Replicas*(prefetch+3)),
		outFree: make(chan *Batch, prefetch+3),
		pos:     opt.Start,
		stats:   newStats(opt.Replicas),
		bad:     badCounts{n: make([]int64, opt.Replicas)},
	}
	for i := range l.segs {
		l.segs[i] = make(chan *Batch, prefetch)
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
	l.wg.Add(opt.Workers + 3)
	go func() { defer l.wg.Done(); fetching.Wait(); close(l.work) }()
	for range opt.Workers {
		go func() { defer l.wg.Done(); l.augment() }()
	}
	go func() { defer l.wg.Done(); l.dispatch() }()
	go func() { defer l.wg.Done(); l.assemble() }()
	return l, nil
}

// Next returns the next batch, io.EOF after the last epoch, or the error that stopped the
// loader. A sample that cannot be read or decoded is left out (see Stats) and replaced by the
// next good one of its replica's stream, so each replica's part of a batch holds
// BatchSize/World samples, except at the end of its share of an epoch; a batch is short only
// there. A batch of no samples is passed over, except with Options.Agree. An epoch whose
// streams gave this loader no good sample (all its images corrupt, say) stops it with an
// error wrapping ErrNoSource that counts what was skipped, except with Options.Agree or in
// what is left of a resumed epoch.
func (l *Loader) Next(ctx context.Context) (*Batch, error) {
	start := time.Now()
	defer func() { l.stats.addWait(time.Since(start)) }()
	for {
		if l.ctx.Err() != nil {
			return nil, ErrClosed
		}
		var b *Batch
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
		l.pos = b.pos
		l.stats.delivered(b.N)
		if b.N == 0 && l.opt.Agree == nil {
			l.Release(b)
			continue
		}
		return b, nil
	}
}

// Release returns a batch's memory to the pool. The batch must not be used afterwards.
func (l *Loader) Release(b *Batch) {
	if b == nil || b.pool == nil {
		return // a Replica view, or nothing
	}
	b.release()
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

// part is the samples each replica contributes to a batch.
func (l *Loader) part() int { return l.opt.BatchSize / l.opt.World }

// slack is how many samples beyond its part of a batch a segment has room for: a replica's
// segment takes that many more when bad samples were found in its stream, so that its good
// samples still make whole parts.
func slack(part int) int { return max(1, part/8) }

// getSegment takes a segment from the pool, or allocates one.
func (l *Loader) getSegment(epoch int) *Batch {
	var b *Batch
	select {
	case b = <-l.segFree:
	default:
		b = newBatch(l.part()+slack(l.part()), l.sizes, l.segFree)
	}
	b.reset(epoch)
	return b
}

// dispatch reads the epochs' streams in order, one goroutine per replica stream, and hands
// each sample to the pool with its segment and slot. It is the only reader of the source,
// which keeps the order deterministic.
func (l *Loader) dispatch() {
	err := l.epochs()
	if err == nil || l.ctx.Err() != nil {
		err = io.EOF
	}
	l.dispatchErr = err
	close(l.tasks)
	for _, c := range l.segs {
		close(c)
	}
}

func (l *Loader) epochs() error {
	mode := modeOf(l.src.Shards(), l.opt.SampleSplit)
	start, replay, err := l.resumePoint(mode)
	if err != nil {
		return err
	}
	for epoch := start.Epoch; l.opt.Epochs == 0 || epoch < l.opt.Epochs; epoch++ {
		d := newDeal(l.src.Shards(), mode, l.opt.Seed, epoch, l.opt.World, "", 0)
		skip, consumed := make([]int64, l.opt.Replicas), int64(0)
		if epoch == start.Epoch {
			d = newDeal(l.src.Shards(), mode, l.opt.Seed, epoch, l.opt.World, shardSet(start.SkipShards), start.SkipSamples)
			skip, consumed = replay, start.Consumed
		}
		if err := l.epoch(d, epoch, skip, consumed); err != nil {
			return err
		}
	}
	return nil
}

// resumePoint turns Options.Start into the position this world's deal starts from and the
// samples each of this loader's replicas replays. A position of another world size becomes
// a fresh deal of the rest of its epoch; one written before positions said what was taken
// (a world of one) has its taken part found by replaying that world's stream.
func (l *Loader) resumePoint(mode dealMode) (Position, []int64, error) {
	p := l.opt.Start
	replay := make([]int64, l.opt.Replicas)
	if p.world() == l.opt.World {
		for i := range replay {
			replay[i] = p.Consumed/int64(l.opt.World) + p.replaced(l.opt.Replica+i)
		}
		return p, replay, nil
	}
	if p.Consumed > 0 && p.World == 0 {
		d := newDeal(l.src.Shards(), mode, l.opt.Seed, p.Epoch, 1, shardSet(p.SkipShards), p.SkipSamples)
		r := d.reader(0, unavailableOnly, nil)
		s := newEpochStream(r, l.opt.Seed, p.Epoch, l.opt.ShuffleBuffer)
		err := replayStream(l.ctx, s, p.Consumed+p.replaced(0))
		s.Close()
		if err != nil {
			return Position{}, nil, err
		}
		shards, samples := takenBy([]*replicaReader{r})
		p.TakenShards, p.TakenSamples = shards.String(), samples
	}
	return Position{Epoch: p.Epoch, World: l.opt.World, SkipShards: p.TakenShards, SkipSamples: p.TakenSamples}, replay, nil
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

// shardError handles a shard that could not be opened or read to its end. A shard whose
// storage stayed unreachable stops the loader (its samples are not bad input, and skipping
// them would change the run); a damaged one is skipped, counted and named.
func (l *Loader) shardError(shard string, err error) error {
	if err := unavailableOnly(shard, err); err != nil {
		return err
	}
	l.stats.skip(SkipUnreadableShard, fmt.Sprintf("%s: %v", shard, err))
	return nil
}

// unavailableOnly stops a stream at a shard whose storage stayed unreachable, and passes over
// other shard errors.
func unavailableOnly(shard string, err error) error {
	if errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("loader: shard %s: %w", shard, err)
	}
	return nil
}

// epoch dispatches one epoch of deal d, whose first skip[i] samples of replica i's stream
// are replayed unread, from position Consumed consumed.
func (l *Loader) epoch(d *deal, epoch int, skip []int64, consumed int64) error {
	hooks, _ := l.src.(epochHooks)
	// The source can tell what it lacked only when this loader reads all of a fresh epoch.
	whole := hooks != nil && l.opt.Replicas == l.opt.World && d.skip == "" && d.skipSamples == 0
	if whole {
		hooks.beginEpoch()
	}
	l.bad.begin(epoch)
	readers := make([]*replicaReader, l.opt.Replicas)
	streams := make([]*epochStream, l.opt.Replicas)
	for i := range streams {
		readers[i] = d.reader(l.opt.Replica+i, l.shardError, &l.stats.read[i])
		streams[i] = newEpochStream(readers[i], l.opt.Seed, epoch, l.opt.ShuffleBuffer)
	}
	defer func() {
		for _, s := range streams {
			s.Close()
		}
	}()
	err := l.eachStream(streams, func(ctx context.Context, i int, s *epochStream) error {
		return l.feed(ctx, d, epoch, i, readers[i], s, skip[i], consumed)
	})
	if err != nil {
		return err
	}
	if whole {
		hooks.endEpoch(l.stats.skip)
	}
	return nil
}

// feed reads replica i's stream of one epoch into segments, after replaying its first skip
// samples unread. Each segment holds the replica's part of a batch, plus the bad samples its
// stream has shown so far and no segment has made up for yet (up to the slack), so that a
// segment's good samples are usually a whole part; which samples make a batch does not
// depend on where segments end. Every epoch gives each replica one segment at least, empty
// when its stream is.
func (l *Loader) feed(ctx context.Context, d *deal, epoch, i int, r *replicaReader, s *epochStream, skip, consumed int64) error {
	if err := replayStream(ctx, s, skip); err != nil {
		return err
	}
	at, taken := skip, r.state()
	more, err := s.More(ctx)
	if err != nil {
		return err
	}
	per, madeUp := l.part(), int64(0)
	for first := true; first || more; first = false {
		b := l.getSegment(epoch)
		b.start, b.taken, b.deal, b.base = at, taken, dealSkip{d.skip, d.skipSamples}, consumed
		select {
		case l.segs[i] <- b:
		case <-ctx.Done():
			return ctx.Err()
		}
		extra := min(l.bad.found(epoch, i)-madeUp, int64(slack(per)))
		madeUp += extra
		for range per + int(extra) {
			it, err := s.Next(ctx)
			if err == io.EOF {
				more = false
				break
			}
			if err == nil {
				slot := b.reserve(r.state())
				at++
				select {
				case l.tasks <- task{b: b, slot: slot, it: it, epoch: epoch, replica: i}:
					continue
				case <-ctx.Done():
					b.finish()
					err = ctx.Err()
				}
			}
			if ctx.Err() == nil {
				b.fail(err)
			}
			b.seal(false)
			return err
		}
		if more {
			if more, err = s.More(ctx); err != nil {
				if ctx.Err() == nil {
					b.fail(err)
				}
				b.seal(false)
				return err
			}
		}
		b.seal(!more)
	}
	return nil
}

// eachStream runs fn on every replica stream, in parallel when there are several, and
// returns the first error; the first error cancels the others' context.
func (l *Loader) eachStream(streams []*epochStream, fn func(ctx context.Context, i int, s *epochStream) error) error {
	if len(streams) == 1 {
		return fn(l.ctx, 0, streams[0])
	}
	ctx, cancel := context.WithCancel(l.ctx)
	defer cancel()
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for i, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx, i, s); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}()
	}
	wg.Wait()
	return first
}
