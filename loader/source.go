package loader

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/internal/tarstream"
)

// Source is a collection of samples split into shards, each read as one sequential stream.
type Source interface {
	// Shards lists the shards in a fixed order; the loader shuffles that order per epoch.
	Shards() []Shard
	// Len counts the samples of one epoch; it may need a pass over the shards' headers.
	Len(ctx context.Context) (int64, error)
	// Close releases files and connections.
	Close() error
}

// Shard is one sequentially read part of a source: a directory, a tar archive, a page of
// S3 keys, a run of manifest entries.
type Shard interface {
	// Name says where the shard's samples come from, for error messages and skip reports.
	Name() string
	// Open starts reading the shard from its beginning.
	Open(ctx context.Context) (Records, error)
}

// Records streams the samples of one shard in their stored order.
type Records interface {
	// Next returns the next sample, or io.EOF after the last one.
	Next(ctx context.Context) (Record, error)
	Close() error
}

// Record is one sample as stored. Streaming shards (tar) fill Data while reading; per-file
// shards (folders, S3 objects) set Load instead so that a sample another host or a resumed
// run skips is never fetched, and so that fetches run in parallel.
type Record struct {
	Key   string // path or key, relative to the source
	Label int    // class index, -1 when unknown
	Data  []byte
	Load  func(ctx context.Context) ([]byte, error)
}

// Bytes returns the record's encoded image, fetching it when needed.
func (r *Record) Bytes(ctx context.Context) ([]byte, error) {
	if r.Load == nil {
		return r.Data, nil
	}
	return r.Load(ctx)
}

// ErrNoSource is wrapped when data.source names nothing that exists.
var ErrNoSource = errors.New("loader: no such source")

// opener opens one kind of source; the registry below tries them in order.
type opener struct {
	name  string
	match func(source string) bool
	open  func(ctx context.Context, d configs.Data) (Source, error)
}

// registry chooses the source by the shape of data.source; the first match wins.
var registry = []opener{
	{"s3", func(s string) bool { return strings.HasPrefix(s, "s3://") }, openS3Source},
	{"manifest", func(s string) bool { return strings.EqualFold(path.Ext(s), ".json") }, openManifestSource},
	{"tar", tarstream.IsName, openTarSource},
	{"folder", func(string) bool { return true }, openFolderSource},
}

// Open returns the source data.source names: s3://bucket/prefix, a .json manifest, tar
// archives (shards-{000..031}.tar, globs, .tar.gz), or a folder (file:// prefixes allowed).
func Open(ctx context.Context, d configs.Data) (Source, error) {
	d.Source = strings.TrimPrefix(d.Source, "file://")
	d.Root = strings.TrimPrefix(d.Root, "file://")
	if d.Source == "" {
		return nil, fmt.Errorf("loader: data.source is empty: %w", ErrNoSource)
	}
	for _, o := range registry {
		if o.match(d.Source) {
			return o.open(ctx, d)
		}
	}
	panic("loader: the folder opener matches every source")
}

// imageExts are the file extensions read as images; everything else in a folder, archive or
// prefix is ignored (not counted as a sample).
var imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true}

func isImageName(name string) bool { return imageExts[strings.ToLower(path.Ext(name))] }

// statSource reports a missing local path as ErrNoSource, naming the key.
func statSource(key, p string) (os.FileInfo, error) {
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("loader: %s %s does not exist: %w", key, p, ErrNoSource)
	}
	if err != nil {
		return nil, fmt.Errorf("loader: %s %s: %w", key, p, err)
	}
	return fi, nil
}
