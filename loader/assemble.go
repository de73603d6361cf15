package loader

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
)

// badCounts counts, per replica of this loader, the bad samples the workers find in the
// epoch being dispatched. The dispatcher reads them to size segments, which only saves
// copying: batches do not depend on it.
type badCounts struct {
	mu    sync.Mutex
	epoch int
	n     []int64
}

func (c *badCounts) begin(epoch int) {
	c.mu.Lock()
	c.epoch = epoch
	clear(c.n)
	c.mu.Unlock()
}

func (c *badCounts) note(epoch, replica int) {
	c.mu.Lock()
	if epoch == c.epoch {
		c.n[replica]++
	}
	c.mu.Unlock()
}

func (c *badCounts) found(epoch, replica int) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch != c.epoch {
		return 0
	}
	return c.n[replica]
}

// cursor is the assembler's place in one replica's stream of an epoch.
type cursor struct {
	seg   *Batch     // the segment being taken from
	k     int        // its next sample
	at    int64      // samples of the stream consumed this epoch (the replay included)
	taken takenState // what the replica's reader had taken at the last of them
}

// ended reports whether the replica's stream has no sample left this epoch.
func (c *cursor) ended() bool { return c.k == c.seg.n && c.seg.ended }

// advance consumes the cursor's next sample.
func (c *cursor) advance() {
	c.taken = c.seg.after[c.k]
	c.k++
	c.at++
}

// assemble turns the replicas' segments into batches until the dispatcher ends or fails, or
// the loader is closed, and then closes ready with the reason.
func (l *Loader) assemble() {
	err := l.assembleEpochs()
	if err == nil || l.ctx.Err() != nil {
		err = io.EOF
	}
	l.endErr = err
	close(l.ready)
}

// take returns replica i's next segment once every sample of it is decoded.
func (l *Loader) take(i int) (*Batch, error) {
	var b *Batch
	var ok bool
	select {
	case b, ok = <-l.segs[i]:
	case <-l.ctx.Done():
		return nil, ErrClosed
	}
	if !ok {
		return nil, l.dispatchErr
	}
	select {
	case <-b.done:
	case <-l.ctx.Done():
		return nil, ErrClosed
	}
	if b.fatal != nil {
		return nil, b.fatal
	}
	return b, nil
}

// assembleEpochs assembles epoch after epoch. Every replica's part of a batch is the next
// BatchSize/World good samples of its stream: a bad sample is replaced by the next good one
// of the same stream, so a part is short only where the stream ends. Whether the epoch has
// another batch is asked once per batch, and once at its start, of Options.Agree, as every
// process of the world does in the same order.
func (l *Loader) assembleEpochs() error {
	cur := make([]cursor, l.opt.Replicas)
	for {
		for i := range cur {
			seg, err := l.take(i)
			if err != nil {
				return err
			}
			if i > 0 && seg.Epoch != cur[0].seg.Epoch {
				return fmt.Errorf("loader: replica %d began epoch %d while replica %d began %d", l.opt.Replica+i, seg.Epoch, l.opt.Replica, cur[0].seg.Epoch)
			}
			cur[i] = cursor{seg: seg, at: seg.start, taken: seg.taken}
		}
		err := l.assembleEpoch(cur)
		for _, c := range cur {
			c.seg.release()
		}
		if err != nil {
			return err
		}
	}
}

// assembleEpoch assembles one epoch from the replicas' first segments in cur.
func (l *Loader) assembleEpoch(cur []cursor) error {
	first := cur[0].seg
	epoch, deal, consumed := first.Epoch, first.deal, first.base
	resumed := deal.shards != "" || deal.samples > 0 // the rest of an epoch may be nothing
	for _, c := range cur {
		resumed = resumed || c.at > 0
	}
	good, skipped := 0, map[string]int64{}
	more, err := l.more(cur)
	for err == nil && more {
		var b *Batch
		if b, err = l.batch(cur, epoch, skipped); err != nil {
			break
		}
		good += b.N
		consumed += int64(l.opt.BatchSize)
		if more, err = l.more(cur); err != nil {
			b.release()
			break
		}
		b.pos = Position{Epoch: epoch + 1, World: l.opt.World}
		if more {
			b.pos = l.position(cur, epoch, consumed, deal)
		}
		select {
		case l.ready <- b:
		case <-l.ctx.Done():
			b.release()
			return ErrClosed
		}
	}
	if err != nil {
		return err
	}
	if good == 0 && l.opt.Agree == nil && !resumed {
		return l.noGoodSample(epoch, skipped)
	}
	return nil
}

// more reports whether the epoch has another batch: whether any replica of the world has a
// sample left (good or not: which is which is known only once decoded).
func (l *Loader) more(cur []cursor) (bool, error) {
	any := false
	for i := range cur {
		any = any || !cur[i].ended()
	}
	if l.opt.Agree != nil {
		return l.opt.Agree(l.ctx, any)
	}
	return any, nil
}

// batch assembles the next batch: each replica's part from its stream's next good samples,
// in replica order. A replica's segment whose first part of samples are all good and all it
// gives (one replica) is handed out as it is, without copying.
func (l *Loader) batch(cur []cursor, epoch int, skipped map[string]int64) (*Batch, error) {
	per := l.part()
	if c := &cur[0]; len(cur) == 1 && c.k == c.seg.n && !c.seg.ended {
		if err := l.next(c, 0); err != nil {
			return nil, err
		}
	}
	if c := &cur[0]; len(cur) == 1 && c.k == 0 && c.seg.n >= per && allGood(c.seg, per) {
		b := c.seg
		b.refs.Add(1)
		for range per {
			c.advance()
		}
		b.trim(per)
		return b, nil
	}
	b := l.getOut(epoch)
	n := 0
	for i := range cur {
		got, err := l.fill(&cur[i], i, b, n, skipped)
		if err != nil {
			b.release()
			return nil, err
		}
		n += got
	}
	b.trim(n)
	return b, nil
}

// allGood reports whether the first n samples of segment b are good.
func allGood(b *Batch, n int) bool {
	for k := range n {
		if !b.good(k) {
			return false
		}
	}
	return true
}

// fill copies replica i's next good samples, up to its part of a batch, into b from slot
// off on, and returns how many; the bad ones it passes are counted.
func (l *Loader) fill(c *cursor, i int, b *Batch, off int, skipped map[string]int64) (int, error) {
	per, got := l.part(), 0
	for got < per {
		if c.k == c.seg.n {
			if c.seg.ended {
				break
			}
			if err := l.next(c, i); err != nil {
				return got, err
			}
			continue
		}
		k := c.k
		c.advance()
		if s := c.seg.skips[k]; s.reason != "" {
			l.stats.skip(s.reason, s.where)
			skipped[s.reason]++
			continue
		}
		b.copyFrom(off+got, c.seg, k)
		got++
	}
	return got, nil
}

// next moves replica i's cursor on to the stream's next segment.
func (l *Loader) next(c *cursor, i int) error {
	seg, err := l.take(i)
	if err != nil {
		return err
	}
	c.seg.release()
	c.seg, c.k = seg, 0
	return nil
}

// getOut takes a batch to copy samples into from the pool, or allocates one.
func (l *Loader) getOut(epoch int) *Batch {
	var b *Batch
	select {
	case b = <-l.outFree:
	default:
		b = newBatch(l.opt.BatchSize/l.opt.World*l.opt.Replicas, l.sizes, l.outFree)
	}
	b.reset(epoch)
	return b
}

// position is the loader's position after a batch inside epoch: consumed global slots,
// each replica's stream beyond its share of them by the bad samples it passed over, and
// what this loader's readers had taken by the last sample each consumed.
func (l *Loader) position(cur []cursor, epoch int, consumed int64, deal dealSkip) Position {
	replaced := make([]int64, l.opt.Replica+len(cur))
	var taken takenState
	for i, c := range cur {
		replaced[l.opt.Replica+i] = max(0, c.at-consumed/int64(l.opt.World))
		taken.shards = taken.shards.union(c.taken.shards)
		taken.samples = max(taken.samples, c.taken.samples)
	}
	return Position{Epoch: epoch, Consumed: consumed, World: l.opt.World,
		SkipShards: deal.shards.String(), SkipSamples: deal.samples,
		TakenShards: taken.shards.String(), TakenSamples: taken.samples,
		Replaced: formatReplaced(replaced)}
}

// noGoodSample is the error of an epoch whose streams held samples for this loader but not
// one good one, or none at all: cycling through more such epochs would never give a batch.
func (l *Loader) noGoodSample(epoch int, skipped map[string]int64) error {
	who := fmt.Sprintf("this loader (replicas %d..%d of %d)", l.opt.Replica, l.opt.Replica+l.opt.Replicas-1, l.opt.World)
	if len(skipped) == 0 {
		return fmt.Errorf("loader: epoch %d gave %s no samples: %w", epoch, who, ErrNoSource)
	}
	var total int64
	var by []string
	for _, reason := range slices.Sorted(maps.Keys(skipped)) {
		total += skipped[reason]
		by = append(by, fmt.Sprintf("%s %d", reason, skipped[reason]))
	}
	return fmt.Errorf("loader: epoch %d gave %s %d samples and not one could be used (skipped: %s): %w",
		epoch, who, total, strings.Join(by, ", "), ErrNoSource)
}
