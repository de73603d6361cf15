package loader

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/internal/regfile"
	"github.com/natssl/natssl/internal/tarstream"
)

// MaxManifestBytes bounds a manifest (iNat 2021's train.json is about 1 GB), read as a stream
// from a regular file or an S3 object.
const MaxManifestBytes = 16 << 30

// manifestRun is how many consecutive manifest entries make one shard when the root allows
// random access (a folder or an S3 prefix): small enough that shuffling the shard order mixes
// well, large enough that the shard list stays short.
const manifestRun = 256

// ManifestSource reads the images an iNat 2021 manifest lists, resolving each file_name
// against data.root: a folder, tar archives (their members
// matched by name, in archive order, members not in the manifest ignored) or an s3:// prefix.
// With data.root unset, names resolve beside the manifest: against the shards it lists
// (natssl data shard writes them), else the tar shards named after it (train.json:
// train-*.tar, train-*.tar.gz, train.tar, train.tar.gz) when there are any, else its folder.
// The label is the image's category_id; Manifest keeps image ids and category names.
type ManifestSource struct {
	manifest *Manifest
	shards   []Shard
	closer   io.Closer
	// seen marks the entries an epoch's archive stream held (tar roots only), so that the
	// entries missing from the archives can be reported when the epoch ends.
	seen []uint64
}

var _ Source = (*ManifestSource)(nil)

func openManifestSource(ctx context.Context, d configs.Data) (Source, error) {
	if _, err := statSource("data.source", d.Source); err != nil {
		return nil, err
	}
	f, err := regfile.Open(d.Source)
	if err != nil {
		return nil, fmt.Errorf("loader: open manifest %s: %w", d.Source, err)
	}
	defer f.Close()
	m, err := ParseManifest(d.Source, regfile.LimitReader(f, d.Source, MaxManifestBytes))
	if err != nil {
		return nil, err
	}
	if d.Root != "" {
		return newManifestSource(ctx, m, d.Root, d)
	}
	var files []archive
	for _, sh := range m.Shards {
		f := filepath.Join(filepath.Dir(d.Source), sh.FileName)
		files = append(files, archive{name: f, open: openLocal(f), bytes: sh.Bytes})
	}
	if len(files) == 0 {
		for _, f := range shardsBeside(d.Source) {
			files = append(files, archive{name: f, open: openLocal(f), bytes: fileSize(f)})
		}
	}
	if len(files) == 0 {
		return newManifestSource(ctx, m, filepath.Dir(d.Source), d)
	}
	s := &ManifestSource{manifest: m}
	s.addArchives(files, imageLimit(d))
	return s, nil
}

// isShardOf reports whether name (a file name without folder) is a tar shard of the
// manifest whose name without extension is stem: stem-*.tar, stem-*.tar.gz, stem.tar or
// stem.tar.gz (train.json: train-000.tar ..., as natssl data fashion-mnist writes them).
func isShardOf(stem, name string) bool {
	if strings.ContainsAny(name, "/\\") {
		return false
	}
	for _, ext := range []string{".tar", ".tar.gz"} {
		if name == stem+ext {
			return true
		}
		if strings.HasPrefix(name, stem+"-") && strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// shardsBeside lists, in name order, the tar shards named after a local manifest in its
// folder: where file names resolve when data.root is unset and there are any (else the
// folder itself).
func shardsBeside(manifest string) []string {
	dir := filepath.Dir(manifest)
	stem := strings.TrimSuffix(filepath.Base(manifest), filepath.Ext(manifest))
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents { // ReadDir sorts by name
		if !e.IsDir() && isShardOf(stem, e.Name()) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

// newManifestSource resolves m's file names against root.
func newManifestSource(ctx context.Context, m *Manifest, root string, d configs.Data) (*ManifestSource, error) {
	s := &ManifestSource{manifest: m}
	switch {
	case strings.HasPrefix(root, "s3://") && tarstream.IsName(root):
		uris, err := expandBraces(root)
		if err != nil {
			return nil, err
		}
		store, _, err := newS3Store(ctx, uris[0], d.S3)
		if err != nil {
			return nil, err
		}
		store.limit = imageLimit(d)
		s.closer = store
		var files []archive
		for _, u := range uris {
			bucket, key, err := parseS3URI(u)
			if err != nil {
				return nil, err
			}
			if bucket != store.bucket {
				return nil, fmt.Errorf("loader: data.root %s: archives in two buckets (%s, %s)", root, store.bucket, bucket)
			}
			files = append(files, archive{name: u, open: func(ctx context.Context) (io.ReadCloser, error) { return store.open(ctx, key) }})
		}
		s.addArchives(files, imageLimit(d))
	case strings.HasPrefix(root, "s3://"):
		store, prefix, err := newS3Store(ctx, root, d.S3)
		if err != nil {
			return nil, err
		}
		store.limit = imageLimit(d)
		s.closer = store
		s.addRuns(func(name string) func(context.Context) ([]byte, error) {
			key := joinKey(prefix, name)
			return func(ctx context.Context) ([]byte, error) { return store.get(ctx, key) }
		})
	case tarstream.IsName(root):
		names, err := expandLocal("data.root", root)
		if err != nil {
			return nil, err
		}
		var files []archive
		for _, f := range names {
			files = append(files, archive{name: f, open: openLocal(f), bytes: fileSize(f)})
		}
		s.addArchives(files, imageLimit(d))
	default:
		fi, err := statSource("data.root", root)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("loader: data.root %s is neither a folder, a tar archive nor an s3:// prefix: %w", root, ErrNoSource)
		}
		limit := imageLimit(d)
		s.addRuns(func(name string) func(context.Context) ([]byte, error) {
			p := filepath.Join(root, filepath.FromSlash(name))
			return func(context.Context) ([]byte, error) { return readImageFile(p, limit) }
		})
	}
	return s, nil
}

// archive is one tar archive of a manifest's root and how to open it.
type archive struct {
	name  string
	open  func(ctx context.Context) (io.ReadCloser, error)
	bytes int64 // 0 when unknown
}

// addArchives makes one shard per archive, whose members are matched to manifest entries by
// name; members the manifest does not list are not samples.
func (s *ManifestSource) addArchives(files []archive, limit int64) {
	m := s.manifest
	match := func(member string) (string, int, bool) {
		i, ok := m.Lookup(member)
		if !ok {
			return "", 0, false
		}
		return member, int(m.Images[i].Category), true
	}
	s.seen = make([]uint64, (len(m.Images)+63)/64)
	onRead := func(member string) { // replicas read archives in parallel
		if i, ok := m.Lookup(member); ok {
			atomic.OrUint64(&s.seen[i/64], 1<<(i%64))
		}
	}
	for _, f := range files {
		s.shards = append(s.shards, &tarShard{name: f.name, open: f.open, bytes: f.bytes, match: match, onRead: onRead, limit: limit})
	}
}

// addRuns splits the manifest into shards of manifestRun entries fetched with load.
func (s *ManifestSource) addRuns(load func(name string) func(context.Context) ([]byte, error)) {
	for lo := 0; lo < len(s.manifest.Images); lo += manifestRun {
		s.shards = append(s.shards, &manifestShard{m: s.manifest, lo: lo, hi: min(lo+manifestRun, len(s.manifest.Images)), load: load})
	}
}

// Manifest returns the parsed manifest: image ids, categories, file names.
func (s *ManifestSource) Manifest() *Manifest { return s.manifest }

// Shards returns runs of entries, or one shard per archive for tar roots.
func (s *ManifestSource) Shards() []Shard { return s.shards }

// Len is the number of manifest entries, the manifest being the authority on what an epoch
// holds; entries missing from data.root are skipped (and counted) as the epoch is read. It
// needs no pass over the data, which for iNat 2021's 224 GB train.tar.gz matters.
func (s *ManifestSource) Len(context.Context) (int64, error) {
	return int64(len(s.manifest.Images)), nil
}

// Close releases the S3 client of an s3:// root.
func (s *ManifestSource) Close() error {
	if s.closer != nil {
		return s.closer.Close()
	}
	return nil
}

// manifestShard is entries [lo, hi) of a manifest.
type manifestShard struct {
	m      *Manifest
	lo, hi int
	load   func(name string) func(context.Context) ([]byte, error)
}

func (r *manifestShard) Name() string {
	return fmt.Sprintf("manifest images[%d:%d]", r.lo, r.hi)
}

func (r *manifestShard) Open(context.Context) (Records, error) {
	return &manifestRecords{s: r, i: r.lo}, nil
}

func (r *manifestShard) count(context.Context) (int64, error) { return int64(r.hi - r.lo), nil }

type manifestRecords struct {
	s *manifestShard
	i int
}

func (r *manifestRecords) Next(ctx context.Context) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	if r.i >= r.s.hi {
		return Record{}, io.EOF
	}
	name := r.s.m.FileName(r.i)
	rec := Record{Key: name, Label: int(r.s.m.Images[r.i].Category), Load: r.s.load(name)}
	r.i++
	return rec, nil
}

func (r *manifestRecords) Close() error { return nil }

// beginEpoch forgets which entries the archives held.
func (s *ManifestSource) beginEpoch() { clear(s.seen) }

// endEpoch reports the manifest entries that no archive held this epoch.
func (s *ManifestSource) endEpoch(report func(reason, where string)) {
	if s.seen == nil {
		return
	}
	for i := range s.manifest.Images {
		if s.seen[i/64]&(1<<(i%64)) == 0 {
			report(SkipMissing, s.manifest.FileName(i)+" (not in data.root)")
		}
	}
}
