package repack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/natssl/natssl/loader"
)

// record is one sample of the source in its place in the sequence, with its bytes once
// fetched (done closed).
type record struct {
	at   at
	rec  loader.Record
	data []byte
	err  error
	done chan struct{}
	skip string // set by the cutter: left out for this reason
}

// closedDone is the done of a record whose bytes came with it.
var closedDone = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// readInput sends the source's records to out in sequence order, from position from: the
// input shards in the source's order, their records in stored order. Per-file records are
// fetched by fetchers goroutines while the sequence goes on, at most cap(out) ahead; tar
// records come with their bytes. An input shard that cannot be opened or read to its end
// is an error: the set would lack it.
func readInput(ctx context.Context, src loader.Source, from at, fetchers int, out chan<- *record) error {
	defer close(out)
	fetch := make(chan *record, cap(out))
	var wg sync.WaitGroup
	for range fetchers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range fetch {
				r.data, r.err = r.rec.Bytes(ctx)
				close(r.done)
			}
		}()
	}
	defer wg.Wait()
	defer close(fetch)
	shards := src.Shards()
	seq := from.Seq
	for j := from.Input; j < len(shards); j++ {
		rs, err := shards[j].Open(ctx)
		if err != nil {
			return fmt.Errorf("repack: open %s: %w", shards[j].Name(), err)
		}
		err = func() error {
			defer rs.Close()
			for n := int64(0); ; n++ {
				rec, err := rs.Next(ctx)
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					return fmt.Errorf("repack: read %s: %w", shards[j].Name(), err)
				}
				if j == from.Input && n < from.Record {
					continue // done before: skipped unfetched
				}
				r := &record{at: at{Input: j, Record: n, Seq: seq}, rec: rec, done: closedDone}
				seq++
				if rec.Load != nil {
					r.done = make(chan struct{})
					select {
					case fetch <- r:
					case <-ctx.Done():
						return ctx.Err()
					}
				} else {
					r.data = rec.Data
				}
				select {
				case out <- r:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}()
		if err != nil {
			return err
		}
	}
	return nil
}
