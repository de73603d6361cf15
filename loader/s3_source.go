package loader

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/internal/regfile"
	"github.com/natssl/natssl/internal/tarstream"
)

// s3Run is how many image keys make one shard of an S3 prefix: one listing page.
const s3Run = 1000

// S3Source reads the objects under s3://bucket/prefix: every tar archive (plain or gzip) is a
// shard streamed with GETs that resume where a connection broke; image objects are grouped
// into shards of 1,000 consecutive keys, each fetched by its own GET when a worker needs it.
// Open lists the prefix once, page by page, keeping one entry per shard, not per key.
// s3://bucket/path/train.json is read as a manifest, its root defaulting to s3://bucket/path/.
type S3Source struct {
	store  *s3Store
	shards []Shard
	images int64
	tars   []Shard
}

var _ Source = (*S3Source)(nil)

func openS3Source(ctx context.Context, d configs.Data) (Source, error) {
	if strings.EqualFold(path.Ext(d.Source), ".json") {
		return openS3Manifest(ctx, d)
	}
	s, err := OpenS3(ctx, d.Source, d.S3)
	if err != nil {
		return nil, err
	}
	s.store.limit = imageLimit(d)
	for _, sh := range s.tars {
		sh.(*tarShard).limit = imageLimit(d)
	}
	return s, nil
}

// openS3Manifest parses a manifest object as it streams in.
func openS3Manifest(ctx context.Context, d configs.Data) (Source, error) {
	store, key, err := newS3Store(ctx, d.Source, d.S3)
	if err != nil {
		return nil, err
	}
	body, err := store.stream(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("loader: data.source %s: %w", d.Source, err)
	}
	defer body.Close()
	m, err := ParseManifest(d.Source, regfile.LimitReader(body, d.Source, MaxManifestBytes))
	if err != nil {
		return nil, err
	}
	dir := "s3://" + store.bucket + "/" + path.Dir(key)
	if path.Dir(key) == "." {
		dir = "s3://" + store.bucket + "/"
	}
	root := d.Root
	if root == "" {
		// The shards the manifest lists, else the tar shards named after it beside it, else
		// its folder.
		prefix := path.Dir(key) + "/"
		if path.Dir(key) == "." {
			prefix = ""
		}
		object := func(k string) func(ctx context.Context) (io.ReadCloser, error) {
			return func(ctx context.Context) (io.ReadCloser, error) { return store.open(ctx, k) }
		}
		var files []archive
		for _, sh := range m.Shards {
			k := prefix + sh.FileName
			files = append(files, archive{name: store.uri(k), bytes: sh.Bytes, open: object(k)})
		}
		if len(files) == 0 {
			stem := strings.TrimSuffix(path.Base(key), path.Ext(key))
			err := store.list(ctx, prefix+stem, "", func(o types.Object) bool {
				k := aws.ToString(o.Key)
				if isShardOf(stem, strings.TrimPrefix(k, prefix)) {
					files = append(files, archive{name: store.uri(k), bytes: aws.ToInt64(o.Size), open: object(k)})
				}
				return true
			})
			if err != nil {
				store.Close()
				return nil, fmt.Errorf("loader: data.source %s: list its shards: %w", d.Source, err)
			}
		}
		if len(files) > 0 {
			s := &ManifestSource{manifest: m, closer: store}
			s.addArchives(files, imageLimit(d))
			return s, nil
		}
		root = dir
	}
	store.Close()
	return newManifestSource(ctx, m, root, d)
}

// OpenS3 lists s3://bucket/prefix and groups its objects into shards.
func OpenS3(ctx context.Context, uri string, c configs.S3) (*S3Source, error) {
	store, prefix, err := newS3Store(ctx, uri, c)
	if err != nil {
		return nil, err
	}
	s := &S3Source{store: store}
	var run *s3RunShard
	after := ""
	err = store.list(ctx, prefix, "", func(o types.Object) bool {
		key := aws.ToString(o.Key)
		switch {
		case tarstream.IsName(key):
			sh := &tarShard{name: store.uri(key), bytes: aws.ToInt64(o.Size), open: func(ctx context.Context) (io.ReadCloser, error) { return store.open(ctx, key) }}
			s.shards = append(s.shards, sh)
			s.tars = append(s.tars, sh)
		case isImageName(key):
			if run == nil || run.n == s3Run {
				run = &s3RunShard{store: store, prefix: prefix, after: after, first: key}
				s.shards = append(s.shards, run)
			}
			run.n++
			run.last = key
			s.images++
		}
		after = key
		return true
	})
	if err != nil {
		return nil, err
	}
	if len(s.shards) == 0 {
		return nil, fmt.Errorf("loader: data.source %s holds no images or tar archives: %w", uri, ErrNoSource)
	}
	return s, nil
}

// Shards returns the tar objects and runs of image keys, in key order.
func (s *S3Source) Shards() []Shard { return s.shards }

// Len is the image objects listed at open plus the image members of every tar object (which
// needs a pass over their headers).
func (s *S3Source) Len(ctx context.Context) (int64, error) {
	n, err := countShards(ctx, s.tars)
	return s.images + n, err
}

// Close releases the client.
func (s *S3Source) Close() error { return s.store.Close() }

// s3RunShard is n consecutive image keys, first..last, listed again when read.
type s3RunShard struct {
	store              *s3Store
	prefix             string
	after, first, last string
	n                  int
}

func (r *s3RunShard) Name() string {
	return r.store.uri(r.first) + " (+" + fmt.Sprint(r.n-1) + " keys)"
}

func (r *s3RunShard) count(context.Context) (int64, error) { return int64(r.n), nil }

// Open lists the run's keys (one or two listing pages) and hands them out as lazy records.
func (r *s3RunShard) Open(ctx context.Context) (Records, error) {
	keys := make([]string, 0, r.n)
	err := r.store.list(ctx, r.prefix, r.after, func(o types.Object) bool {
		key := aws.ToString(o.Key)
		if key > r.last {
			return false
		}
		if isImageName(key) && !tarstream.IsName(key) {
			keys = append(keys, key)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	return &s3Records{r: r, keys: keys}, nil
}

type s3Records struct {
	r    *s3RunShard
	keys []string
	i    int
}

func (s *s3Records) Next(ctx context.Context) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	if s.i >= len(s.keys) {
		return Record{}, io.EOF
	}
	key := s.keys[s.i]
	s.i++
	store := s.r.store
	rel := strings.TrimPrefix(strings.TrimPrefix(key, s.r.prefix), "/")
	return Record{Key: rel, Label: pathLabel(rel), Load: func(ctx context.Context) ([]byte, error) {
		return store.get(ctx, key)
	}}, nil
}

func (s *s3Records) Close() error { return nil }
