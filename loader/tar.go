package loader

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/internal/regfile"
	"github.com/natssl/natssl/internal/tarstream"
)

// TarSource reads one or many tar archives, plain or gzip, one shard per archive, each as a
// single sequential stream: nothing is extracted and no archive is held in memory.
type TarSource struct {
	shards []Shard
}

var _ Source = (*TarSource)(nil)

func openTarSource(_ context.Context, d configs.Data) (Source, error) {
	s, err := OpenTar(d.Source)
	if err != nil {
		return nil, err
	}
	for _, sh := range s.shards {
		sh.(*tarShard).limit = imageLimit(d)
	}
	return s, nil
}

// OpenTar opens the archives pattern names: a path, a brace range (shards-{000..031}.tar), a
// list ({a,b}.tar) or a glob (shards-*.tar.gz).
func OpenTar(pattern string) (*TarSource, error) {
	files, err := expandLocal("data.source", pattern)
	if err != nil {
		return nil, err
	}
	s := &TarSource{}
	for _, f := range files {
		s.shards = append(s.shards, &tarShard{name: f, open: openLocal(f), bytes: fileSize(f)})
	}
	return s, nil
}

// Shards returns one shard per archive, in sorted name order.
func (s *TarSource) Shards() []Shard { return s.shards }

// Len counts the image members of every archive: a pass over the headers (seeking past the
// data of plain archives, decompressing gzip ones).
func (s *TarSource) Len(ctx context.Context) (int64, error) { return countShards(ctx, s.shards) }

// Close does nothing: archives are opened per shard.
func (s *TarSource) Close() error { return nil }

func openLocal(name string) func(context.Context) (io.ReadCloser, error) {
	return func(context.Context) (io.ReadCloser, error) {
		f, err := regfile.Open(name)
		if err != nil {
			return nil, fmt.Errorf("loader: open %s: %w", name, err)
		}
		return f, nil
	}
}

// fileSize is a local file's size, 0 when it cannot be had (the open will say why).
func fileSize(name string) int64 {
	fi, err := os.Stat(name)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// tarShard is one archive, read from open.
type tarShard struct {
	name  string
	open  func(ctx context.Context) (io.ReadCloser, error)
	bytes int64 // stored size, 0 when unknown
	// match, when set, maps a member name to its record (manifest roots); ok false skips it.
	match func(member string) (key string, label int, ok bool)
	// onRead, when set, is told the key of every sample read (not of those only counted).
	onRead func(key string)
	// limit is the most bytes a member may have to be read (data.max_image_bytes); 0 means
	// DefaultMaxImageBytes.
	limit int64
}

func (t *tarShard) Name() string { return t.name }

// streamed: a tar archive is read from its start, so its shards are dealt whole.
func (t *tarShard) streamed() bool { return true }

func (t *tarShard) size() int64 { return t.bytes }

func (t *tarShard) Open(ctx context.Context) (Records, error) {
	rc, err := t.open(ctx)
	if err != nil {
		return nil, err
	}
	r, err := newTarRecords(t.name, rc, true)
	if err != nil {
		rc.Close()
		return nil, err
	}
	r.match, r.onRead = t.match, t.onRead
	if t.limit > 0 {
		r.limit = t.limit
	}
	return r, nil
}

// count returns the number of samples the shard yields, reading only headers.
func (t *tarShard) count(ctx context.Context) (int64, error) {
	rc, err := t.open(ctx)
	if err != nil {
		return 0, err
	}
	r, err := newTarRecords(t.name, rc, false)
	if err != nil {
		rc.Close()
		return 0, err
	}
	r.match = t.match // not onRead: counting is not reading an epoch
	defer r.Close()
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		_, ok, err := r.nextHeader()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
		if ok {
			n++
		}
	}
}

// counter is a shard that can count its samples without decoding them.
type counter interface {
	count(ctx context.Context) (int64, error)
}

func countShards(ctx context.Context, shards []Shard) (int64, error) {
	var n int64
	for _, s := range shards {
		c, ok := s.(counter)
		if !ok {
			return 0, fmt.Errorf("loader: shard %s cannot be counted", s.Name())
		}
		k, err := c.count(ctx)
		if err != nil {
			return 0, fmt.Errorf("loader: count %s: %w", s.Name(), err)
		}
		n += k
	}
	return n, nil
}

// tarRecords streams the image members of one archive.
type tarRecords struct {
	name   string
	c      io.Closer
	tr     *tarstream.Reader
	match  func(member string) (key string, label int, ok bool)
	onRead func(key string)
	size   int64 // of the current member
	limit  int64 // the most bytes a member may have to be read
	read   *countingReader
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (r *tarRecords) bytesRead() int64 {
	if r.read == nil {
		return 0
	}
	return r.read.n
}

// newTarRecords reads an archive from rc. buffered adds a read buffer (reading data); without
// it a plain file keeps its Seek, which tar uses to skip member data when only headers are
// wanted.
func newTarRecords(name string, rc io.ReadCloser, buffered bool) (*tarRecords, error) {
	var src io.Reader = rc
	var counted *countingReader
	if buffered {
		counted = &countingReader{r: rc}
		src = bufio.NewReaderSize(counted, 256<<10)
	}
	tr, err := tarstream.NewReader(src)
	if err != nil {
		return nil, fmt.Errorf("loader: read %s: %w", name, err)
	}
	return &tarRecords{name: name, c: rc, tr: tr, limit: DefaultMaxImageBytes, read: counted}, nil
}

// nextHeader advances to the next member that is a sample and returns its record's key and
// label; ok is false for members that are not samples (directories, non-images, unmatched).
func (r *tarRecords) nextHeader() (rec Record, ok bool, err error) {
	h, err := r.tr.Next()
	if err == io.EOF {
		return Record{}, false, io.EOF
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("loader: read %s: %w", r.name, err)
	}
	r.size = h.Size
	name := h.Name
	if !isImageName(name) {
		return Record{}, false, nil
	}
	if r.match != nil {
		key, label, ok := r.match(name)
		return Record{Key: key, Label: label}, ok, nil
	}
	return Record{Key: name, Label: pathLabel(name)}, true, nil
}

// Next reads the next image member into memory.
func (r *tarRecords) Next(ctx context.Context) (Record, error) {
	for {
		if err := ctx.Err(); err != nil {
			return Record{}, err
		}
		rec, ok, err := r.nextHeader()
		if err != nil {
			return Record{}, err
		}
		if !ok {
			continue
		}
		if r.size > r.limit {
			err := fmt.Errorf("%w: %d bytes, over data.max_image_bytes %d", regfile.ErrTooLarge, r.size, r.limit)
			rec.Load = func(context.Context) ([]byte, error) { return nil, err }
			return rec, nil
		}
		data, err := r.tr.ReadAll()
		if err != nil {
			return Record{}, fmt.Errorf("loader: read %s in %s: %w", rec.Key, r.name, err)
		}
		rec.Data = data
		if r.onRead != nil {
			r.onRead(rec.Key)
		}
		return rec, nil
	}
}

func (r *tarRecords) Close() error {
	r.tr.Close()
	return r.c.Close()
}
