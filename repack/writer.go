package repack

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	_ "image/gif" // DecodeConfig of every format the loader reads
	_ "image/jpeg"
	_ "image/png"
	"io"
	"path"
	"sync/atomic"
	"time"

	"github.com/natssl/natssl/loader"
)

// memberTime is every member's modification time, so that the same source gives the same
// bytes (and checksums).
var memberTime = time.Date(2021, 3, 1, 0, 0, 0, 0, time.UTC)

// tarSize is what a sample of n bytes adds to an archive: a header block and the data
// padded to blocks (long names add a PAX header, which the cut does not count).
func tarSize(n int) int64 { return 512 + (int64(n)+511)/512*512 }

// shardWriter writes one output shard from the records sent to in, on its own goroutine,
// then records it in the journal.
type shardWriter struct {
	st      store
	e       *entry
	in      chan *record
	ids     func(key string) *int64 // the source manifest's id of a sample, or nil
	written *atomic.Int64           // bytes of all shards, for progress
	done    chan struct{}
	err     error
	stopped atomic.Bool // the records ended because the run did: commit nothing
}

func newShardWriter(ctx context.Context, st store, k int, ids func(string) *int64, written *atomic.Int64) *shardWriter {
	w := &shardWriter{
		st:      st,
		e:       &entry{Shard: k, File: loader.ManifestShard{FileName: shardName(k)}, Skipped: map[string]int64{}},
		in:      make(chan *record, 16),
		ids:     ids,
		written: written,
		done:    make(chan struct{}),
	}
	go func() {
		defer close(w.done)
		w.err = w.run(ctx)
		for range w.in { // after a failure, let the sender finish
		}
	}()
	return w
}

// finish says the shard's records are all sent and where the input stands after them, and
// waits for the shard to be written and journalled.
func (w *shardWriter) finish(end at) error {
	w.e.End = end
	close(w.in)
	<-w.done
	return w.err
}

// stop ends a shard that the run cannot finish: nothing of it is committed.
func (w *shardWriter) stop() {
	w.stopped.Store(true)
	close(w.in)
	<-w.done
}

func (w *shardWriter) run(ctx context.Context) error {
	sk, err := w.st.create(ctx, w.e.File.FileName)
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			sk.abort()
		}
	}()
	h := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(sk, h), n: w.written}
	bw := bufio.NewWriterSize(cw, 1<<20)
	tw := tar.NewWriter(bw)
	for r := range w.in {
		if r.skip != "" {
			w.skip(r.skip, r.rec.Key)
			continue
		}
		cfg, _, err := image.DecodeConfig(bytes.NewReader(r.data))
		if err != nil {
			w.skip(loader.SkipCorrupt, r.rec.Key)
			continue
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: r.rec.Key, Size: int64(len(r.data)), Mode: 0o644, ModTime: memberTime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("repack: write %s: %w", w.st.uri(w.e.File.FileName), err)
		}
		if _, err := tw.Write(r.data); err != nil {
			return fmt.Errorf("repack: write %s: %w", w.st.uri(w.e.File.FileName), err)
		}
		w.e.Rows = append(w.e.Rows, row{ID: w.ids(r.rec.Key), FileName: r.rec.Key, Width: cfg.Width, Height: cfg.Height, Category: r.rec.Label})
		if r.rec.Label >= 0 {
			if w.e.Categories == nil {
				w.e.Categories = map[int]string{}
			}
			w.e.Categories[r.rec.Label] = path.Base(path.Dir(r.rec.Key))
		}
	}
	if w.stopped.Load() {
		return context.Canceled
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("repack: write %s: %w", w.st.uri(w.e.File.FileName), err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("repack: write %s: %w", w.st.uri(w.e.File.FileName), err)
	}
	committed = true
	if err := sk.commit(); err != nil {
		return fmt.Errorf("repack: write %s: %w", w.st.uri(w.e.File.FileName), err)
	}
	w.e.File.Images = int64(len(w.e.Rows))
	w.e.File.Bytes = cw.total
	w.e.File.SHA256 = hex.EncodeToString(h.Sum(nil))
	data, err := json.Marshal(w.e)
	if err != nil {
		return fmt.Errorf("repack: journal of %s: %w", w.e.File.FileName, err)
	}
	if err := w.st.put(ctx, entryName(w.e.Shard), data); err != nil {
		return err
	}
	w.e.Rows = nil // in the journal now: memory holds one shard's rows per writer
	return nil
}

// skip counts a sample left out, naming the first few.
func (w *shardWriter) skip(reason, key string) {
	w.e.Skipped[reason]++
	if len(w.e.Examples) < maxExamples {
		w.e.Examples = append(w.e.Examples, reason+": "+key)
	}
}

// maxExamples is how many skipped samples a shard's journal and the summary name.
const maxExamples = 10

// countingWriter counts the bytes written through it, its own and (atomically) all shards'.
type countingWriter struct {
	w     io.Writer
	n     *atomic.Int64
	total int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.total += int64(n)
	c.n.Add(int64(n))
	return n, err
}
