package repack

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/loader"
)

// Options configure Run.
type Options struct {
	// Data names the source (Source, Root) and how to reach S3 (S3), as data.* does.
	Data configs.Data
	// Out is a folder or an s3://bucket/prefix/ to write the set to.
	Out string
	// ShardSize cuts a shard when the next sample would take it past this many bytes of tar;
	// used when Shards is 0 (default DefaultShardSize).
	ShardSize int64
	// Shards splits the source into this many shards of equal image counts instead; it needs
	// the source's count (for tar archives, a pass over their headers).
	Shards int
	// Jobs is the number of fetches and shard writers working at once (default 1).
	Jobs int
	// Progress, when set, is told how the work goes, a few times a second.
	Progress func(Progress)
}

// progressEvery is how often Options.Progress hears from a run.
var progressEvery = 200 * time.Millisecond

// DefaultShardSize is the shard size when Options say none: large enough for long
// sequential reads, small enough that a world of many replicas has several each.
const DefaultShardSize = 1_000_000_000

// Progress is how far Run has gone.
type Progress struct {
	Images  int64 // samples written or skipped so far, by this run
	Total   int64 // samples left for this run; 0 when unknown without a pass over the data
	Bytes   int64 // bytes of shards written by this run
	Shards  int   // shards finished, those of an earlier run included
	Elapsed time.Duration
}

// Summary says what Run made. Its JSON form is `natssl data shard --json`'s last line.
type Summary struct {
	Out             string           `json:"out"`
	Manifest        string           `json:"manifest"` // the data.source of the set
	Shards          int              `json:"shards"`
	Images          int64            `json:"images"`
	Bytes           int64            `json:"bytes"`
	Resumed         int              `json:"resumed_shards"` // finished shards of an earlier run, kept
	Jobs            int              `json:"jobs"`
	Seconds         float64          `json:"seconds"`
	MBPerS          float64          `json:"mb_per_s"`     // shard bytes written by this run per second, 10^6
	ImagesPerS      float64          `json:"images_per_s"` // images written by this run per second
	Skipped         map[string]int64 `json:"skipped"`
	SkippedExamples []string         `json:"-"`
}

// ErrExists is wrapped when the output holds what this command did not make, or a set made
// with other options.
var ErrExists = errors.New("repack: the output is taken")

// validate refuses options that cannot work, before any work.
func (o *Options) validate() error {
	switch {
	case o.Data.Source == "":
		return errors.New("repack: no source (--from)")
	case o.Out == "":
		return errors.New("repack: no output (--out)")
	case o.Shards < 0 || o.ShardSize < 0 || o.Jobs < 0:
		return errors.New("repack: --shards, --shard-size and --jobs must not be negative")
	case o.Shards > 0 && o.ShardSize > 0:
		return errors.New("repack: give --shards or --shard-size, not both")
	}
	if o.Shards == 0 && o.ShardSize == 0 {
		o.ShardSize = DefaultShardSize
	}
	if o.Jobs == 0 {
		o.Jobs = 1
	}
	return nil
}

// Run repacks o.Data's source into plain tar shards train-000000.tar… and a manifest
// train.json (iNat form, labels and source ids kept, with the shards' sizes and SHA-256)
// under o.Out. The set is cut from the source's records in their stored order, so it is
// the same whatever o.Jobs; shards that a run interrupted had finished are kept, and the
// rest redone (a journal under .natssl-shard/ says which, and is removed at the end).
func Run(ctx context.Context, o Options) (*Summary, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	st, err := openStore(ctx, o)
	if err != nil {
		return nil, err
	}
	d := o.Data
	d.Source = strings.TrimPrefix(d.Source, "file://")
	src, err := loader.Open(ctx, d)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	p := plan{Version: planVersion, From: o.Data.Source, Root: o.Data.Root, ShardSize: o.ShardSize, Shards: o.Shards}
	var total int64
	if o.Shards > 0 || cheapCount(src) {
		if total, err = src.Len(ctx); err != nil {
			return nil, err
		}
	}
	if o.Shards > 0 {
		p.Count = total
		if total < int64(o.Shards) {
			return nil, fmt.Errorf("repack: --shards %d: the source holds only %d images", o.Shards, total)
		}
	}
	if err := checkFinished(ctx, st, p); err != nil {
		return nil, err
	}
	if err := checkPlan(ctx, st, p); err != nil {
		return nil, err
	}
	if err := st.clean(ctx); err != nil {
		return nil, err
	}
	done, err := readJournal(ctx, st)
	if err != nil {
		return nil, err
	}
	c := &cutter{o: o, st: st, p: p, done: done, prior: len(done), start: start, total: total, ids: sourceIDs(src)}
	c.shards, err = readEnd(ctx, st)
	if err != nil {
		return nil, err
	}
	if c.shards == 0 {
		if err := c.run(ctx, src); err != nil {
			return nil, err
		}
		if err := writeEnd(ctx, st, c.shards); err != nil {
			return nil, err
		}
	}
	if err := writeManifest(ctx, st, c.done, c.shards, categoriesOf(src), o.Data.Source); err != nil {
		return nil, err
	}
	if err := clearJournal(ctx, st); err != nil {
		return nil, err
	}
	return c.summary(st), nil
}

// openStore opens the output.
func openStore(ctx context.Context, o Options) (store, error) {
	if strings.HasPrefix(o.Out, "s3://") {
		return newBucket(ctx, o.Out, o.Data.S3)
	}
	return newFolder(strings.TrimPrefix(o.Out, "file://"))
}

// checkFinished refuses an output that holds a finished set, unless it is this plan's and
// only its journal was left (a run stopped while removing it: the rest is done again).
func checkFinished(ctx context.Context, st store, p plan) error {
	if _, err := st.get(ctx, manifestName); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	if _, err := st.get(ctx, journalDir+"/"+planName); err == nil {
		return checkPlan(ctx, st, p)
	}
	return fmt.Errorf("repack: %s already holds a finished set (%s): choose another --out, or remove it: %w", st.uri(""), st.uri(manifestName), ErrExists)
}

// cheapCount reports whether src counts its samples without reading the data.
func cheapCount(src loader.Source) bool {
	switch src.(type) {
	case *loader.FolderSource, *loader.ManifestSource:
		return true
	}
	return false
}

// sourceIDs returns the manifest ids of a manifest source's samples.
func sourceIDs(src loader.Source) func(string) *int64 {
	ms, ok := src.(*loader.ManifestSource)
	if !ok {
		return func(string) *int64 { return nil }
	}
	m := ms.Manifest()
	return func(key string) *int64 {
		if i, ok := m.Lookup(key); ok {
			id := m.Images[i].ID
			return &id
		}
		return nil
	}
}

// categoriesOf returns a manifest source's categories; nil for other sources, whose
// categories are their class folders.
func categoriesOf(src loader.Source) []loader.Category {
	if ms, ok := src.(*loader.ManifestSource); ok {
		return ms.Manifest().Categories
	}
	return nil
}

// cutter reads the source in sequence and cuts it into shards, each written by its own
// shardWriter, at most o.Jobs at once.
type cutter struct {
	o       Options
	st      store
	p       plan
	done    map[int]*entry // finished shards, of earlier runs and then of this one
	start   time.Time
	total   int64
	ids     func(string) *int64
	written atomic.Int64
	shards  int // shards of the set, once run has returned
	prior   int // shards finished by earlier runs

	images int64
	fresh  map[int]bool // shards written by this run
}

func (c *cutter) run(ctx context.Context, src loader.Source) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	k, from := 0, at{}
	for c.done[k] != nil {
		from = c.done[k].End
		k++
	}
	c.fresh = map[int]bool{}
	if k > 0 && from.Input >= len(src.Shards()) && (c.o.Shards == 0 || k >= c.o.Shards) {
		// An earlier run wrote every record and was stopped before it could say so: the set
		// is its shards, with no empty one after them.
		c.shards = k
		return nil
	}
	if c.total > 0 {
		c.total -= from.Seq
	}
	in := make(chan *record, 8*c.o.Jobs)
	readErr := make(chan error, 1)
	go func() { readErr <- readInput(ctx, src, from, max(4, 4*c.o.Jobs), in) }()

	slots := make(chan struct{}, c.o.Jobs) // writers at work
	var writers []*shardWriter
	var errs []error
	finish := func(w *shardWriter, end at) {
		go func() {
			if err := w.finish(end); err != nil {
				cancel()
			}
			<-slots
		}()
	}
	var cur *shardWriter // nil while the current shard is one already finished
	open := func(k int) {
		if c.done[k] != nil {
			cur = nil
			return
		}
		slots <- struct{}{}
		cur = newShardWriter(ctx, c.st, k, c.ids, &c.written)
		writers = append(writers, cur)
	}
	open(k)
	var size int64
	last := time.Now()
	var unavailable error // storage that stayed unreachable: not bad input, never skipped
	for r := range in {
		<-r.done
		if errors.Is(r.err, loader.ErrUnavailable) {
			unavailable = fmt.Errorf("repack: %s: %w", r.rec.Key, r.err)
			cancel()
			break
		}
		if reason := loader.Classify(r.data, r.err); reason != "" {
			r.skip = reason
		}
		next := k
		switch {
		case c.o.Shards > 0:
			next = min(int(r.at.Seq*int64(c.o.Shards)/c.p.Count), c.o.Shards-1)
		case r.skip == "" && size > 0 && size+tarSize(len(r.data)) > c.o.ShardSize:
			next = k + 1
		}
		for k < next {
			if cur != nil {
				finish(cur, r.at)
			}
			k++
			size = 0
			open(k)
		}
		if r.skip == "" {
			size += tarSize(len(r.data))
		}
		if cur != nil {
			select {
			case cur.in <- r:
			case <-ctx.Done():
			}
		}
		c.images++
		if now := time.Now(); c.o.Progress != nil && now.Sub(last) >= progressEvery {
			last = now
			c.o.Progress(Progress{Images: c.images, Total: c.total, Bytes: c.written.Load(), Shards: k, Elapsed: now.Sub(c.start)})
		}
	}
	err := <-readErr
	if unavailable != nil {
		err = unavailable
	}
	if err == nil {
		err = ctx.Err()
	}
	end := at{Input: len(src.Shards())}
	switch {
	case err != nil && cur != nil:
		cur.stop()
		<-slots
	case err == nil && cur != nil:
		finish(cur, end)
	}
	for err == nil && k+1 < c.o.Shards { // a source that held fewer samples than it counted
		k++
		if open(k); cur != nil {
			finish(cur, end)
		}
	}
	for range c.o.Jobs {
		slots <- struct{}{} // every writer done
	}
	for _, w := range writers {
		if w.err != nil && !errors.Is(w.err, context.Canceled) {
			errs = append(errs, w.err)
		} else if w.err == nil {
			c.done[w.e.Shard] = w.e
			c.fresh[w.e.Shard] = true
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...) // what stopped the run, not the cancellation it caused
	}
	if err != nil {
		return err
	}
	c.shards = k + 1
	if c.o.Progress != nil {
		c.o.Progress(Progress{Images: c.images, Total: c.images, Bytes: c.written.Load(), Shards: c.shards, Elapsed: time.Since(c.start)})
	}
	return nil
}

// summary totals the set from the journal entries.
func (c *cutter) summary(st store) *Summary {
	secs := time.Since(c.start).Seconds()
	s := &Summary{Out: st.uri(""), Manifest: st.uri(manifestName), Shards: c.shards, Resumed: c.prior,
		Jobs: c.o.Jobs, Seconds: secs, Skipped: map[string]int64{}}
	var fresh int64
	for _, k := range sortedKeys(c.done) {
		e := c.done[k]
		s.Images += e.File.Images
		s.Bytes += e.File.Bytes
		for r, n := range e.Skipped {
			s.Skipped[r] += n
		}
		if len(s.SkippedExamples) < maxExamples {
			s.SkippedExamples = append(s.SkippedExamples, e.Examples[:min(len(e.Examples), maxExamples-len(s.SkippedExamples))]...)
		}
		if c.fresh[k] {
			fresh += e.File.Images
		}
	}
	if secs > 0 {
		s.MBPerS = float64(c.written.Load()) / 1e6 / secs
		s.ImagesPerS = float64(fresh) / secs
	}
	return s
}

// sortedKeys returns m's keys in order.
func sortedKeys(m map[int]*entry) []int {
	keys := slices.Collect(maps.Keys(m))
	sort.Ints(keys)
	return keys
}
