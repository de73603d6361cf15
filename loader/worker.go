package loader

import (
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/natssl/natssl/augment"
	"github.com/natssl/natssl/decode"
	"github.com/natssl/natssl/internal/regfile"
)

// Skip reasons, the keys of Stats.Skipped.
const (
	SkipEmpty           = "empty"            // a zero-byte file
	SkipNotImage        = "not_image"        // neither JPEG, PNG nor GIF by its first bytes
	SkipCorrupt         = "corrupt"          // an image that does not decode (truncated, damaged)
	SkipMissing         = "missing"          // listed (manifest, listing) but not there
	SkipTooLarge        = "too_large"        // a file, member or object over data.max_image_bytes
	SkipNotRegular      = "not_regular"      // a FIFO, device or socket (or a link to one) with an image's name
	SkipUnreadable      = "unreadable"       // a read that failed after retries
	SkipUnreadableShard = "unreadable_shard" // a shard that could not be opened or read to its end
)

// fetch loads each task's bytes (a file read, an S3 GET) and passes it on to the workers.
// Fetchers outnumber workers so that slow storage does not leave cores idle.
func (l *Loader) fetch() {
	for t := range l.tasks {
		if l.ctx.Err() != nil {
			t.b.finish()
			continue
		}
		start := time.Now()
		t.data, t.err = t.it.rec.Bytes(l.ctx)
		l.stats.addFetch(time.Since(start))
		if t.it.rec.Load != nil {
			l.stats.read[t.replica].Add(int64(len(t.data)))
		}
		select {
		case l.work <- t:
		case <-l.ctx.Done():
			t.b.finish()
		}
	}
}

// augment decodes each task's image and writes its views into the task's batch slot.
func (l *Loader) augment() {
	w := l.pipeline.NewWorker()
	defer w.Close()
	dst := make([][]float32, len(l.sizes))
	for t := range l.work {
		if l.ctx.Err() != nil {
			t.b.finish()
			continue
		}
		b, i := t.b, t.slot
		b.labels[i], b.keys[i] = t.it.rec.Label, t.it.rec.Key
		if errors.Is(t.err, ErrUnavailable) { // not bad input: the loader stops, naming it
			b.fail(fmt.Errorf("loader: %s: %w", where(t), t.err))
			b.finish()
			continue
		}
		if reason := Classify(t.data, t.err); reason != "" {
			b.skips[i] = skipped{reason, where(t)}
			l.bad.note(t.epoch, t.replica)
			b.finish()
			continue
		}
		start := time.Now()
		rng := augment.SampleRNG(l.opt.Seed, t.epoch, t.it.index)
		for v, s := range l.sizes {
			per := 3 * s * s
			dst[v] = b.views[v][i*per : (i+1)*per]
		}
		err := w.Views(t.data, rng, dst)
		l.stats.addAugment(time.Since(start))
		switch {
		case err == nil:
		case errors.Is(err, decode.ErrCorrupt):
			b.skips[i] = skipped{SkipCorrupt, where(t)}
			l.bad.note(t.epoch, t.replica)
		default:
			b.fail(fmt.Errorf("loader: augment %s: %w", where(t), err))
		}
		b.finish()
	}
}

// where names a sample for skip reports: its key, and the shard when that says more.
func where(t task) string {
	if t.it.shard == "" {
		return t.it.rec.Key
	}
	return t.it.rec.Key + " (in " + t.it.shard + ")"
}

// Classify returns why a sample, read as data with err, cannot be used (a Skip* reason)
// without decoding it, or "" when it may be.
func Classify(data []byte, err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return SkipMissing
	case errors.Is(err, regfile.ErrTooLarge):
		return SkipTooLarge
	case errors.Is(err, regfile.ErrNotRegular):
		return SkipNotRegular
	case err != nil:
		return SkipUnreadable
	case len(data) == 0:
		return SkipEmpty
	case !looksLikeImage(data):
		return SkipNotImage
	}
	return ""
}

// looksLikeImage checks the magic numbers of the formats the decoder reads.
func looksLikeImage(b []byte) bool {
	switch {
	case len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF: // JPEG
		return true
	case len(b) >= 8 && string(b[:8]) == "\x89PNG\r\n\x1a\n":
		return true
	case len(b) >= 6 && (string(b[:6]) == "GIF87a" || string(b[:6]) == "GIF89a"):
		return true
	}
	return false
}
