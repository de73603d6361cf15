package loader

import (
	"context"
	"sync"
)

// slack is how many samples beyond the batch size a chunk has room for: the dispatcher gives
// a chunk that many more when bad samples were found, so that its good samples still make a
// whole batch.
func slack(batch int) int { return max(1, batch/8) }

// badCounts counts the bad samples the workers find in the epoch being dispatched.
type badCounts struct {
	mu    sync.Mutex
	epoch int
	n     int64
}

func (c *badCounts) begin(epoch int) {
	c.mu.Lock()
	c.epoch, c.n = epoch, 0
	c.mu.Unlock()
}

func (c *badCounts) note(epoch int) {
	c.mu.Lock()
	if epoch == c.epoch {
		c.n++
	}
	c.mu.Unlock()
}

func (c *badCounts) in(epoch int) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch != c.epoch {
		return 0
	}
	return c.n
}

// noteBad tells the dispatcher that a sample of epoch was left out.
func (l *Loader) noteBad(epoch int) { l.bad.note(epoch) }

// take returns the next chunk of the stream once all its samples are decoded, with its good
// samples compacted to its front and its bad ones counted. A cancelled wait loses nothing:
// the chunk is kept for the next call.
func (l *Loader) take(ctx context.Context) (*Batch, error) {
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
		l.waiting = b
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
	return b, nil
}

// assemble hands out the stream's good samples BatchSize at a time: a bad sample is replaced
// by the next good one of the stream, so a batch is short only at the end of an epoch. Which
// samples make a batch follows from the stream order alone (not from timing), so batches are
// the same whatever the number of workers, and a loader started at a batch's position
// continues with exactly the batches that followed it.
//
// A batch is a view of a chunk: the head chunk's good samples not handed out yet, topped up
// with the first good samples of the chunks after it. A chunk whose good samples are a whole
// batch (the usual case) is handed out without copying.
func (l *Loader) assemble(ctx context.Context) (*Batch, error) {
	size := l.opt.BatchSize
	for {
		if l.head == nil {
			if l.spare != nil {
				l.head, l.spare = l.spare, nil
			} else {
				b, err := l.take(ctx)
				if err != nil {
					return nil, err
				}
				l.head = b
			}
		}
		out := l.head
		for out.left() < size && !out.last {
			if l.spare == nil {
				b, err := l.take(ctx)
				if err != nil {
					return nil, err
				}
				l.spare = b
			}
			src := l.spare
			out.absorb(src, size-out.left())
			if src.exhausted() {
				out.last = src.last
				l.spare = nil
				l.Release(src)
			}
		}
		if out.exhausted() { // an epoch's last chunk with nothing left: its samples were all bad
			l.head = nil
			l.Release(out)
			continue
		}
		n := min(size, out.left())
		l.head = nil
		if out.left() > n {
			l.head = l.rest(out, n)
		}
		pos := Position{out.Epoch, out.after[out.off+n-1]}
		if out.last && l.head == nil {
			pos = Position{out.Epoch + 1, 0}
		}
		out.trim(n)
		out.pos, l.pos = pos, pos
		l.stats.delivered(n)
		return out, nil
	}
}

// rest moves the good samples of chunk b after its next n into a chunk of their own, which
// begins the next batch. (A chunk is cut to hold at most a batch of good samples, so this is
// a safeguard, not a path taken.)
func (l *Loader) rest(b *Batch, n int) *Batch {
	r := l.getBatch(b.Epoch, 0)
	r.last = b.last
	b.last = false
	saved := b.off
	b.off += n
	r.absorb(b, b.left())
	b.off, b.N = saved, saved+n
	close(r.done)
	return r
}
