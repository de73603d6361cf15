package repack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/natssl/natssl/internal/atomicfile"
	"github.com/natssl/natssl/internal/regfile"
)

// store is where a shard set is written: a folder or an S3 prefix. Names are slash paths
// relative to it.
type store interface {
	// create starts a file that appears under name whole, at commit, or not at all.
	create(ctx context.Context, name string) (sink, error)
	// get reads a small file (at most maxFileBytes: a journal entry, the plan); a missing one
	// wraps fs.ErrNotExist.
	get(ctx context.Context, name string) ([]byte, error)
	// put writes a small file atomically.
	put(ctx context.Context, name string, data []byte) error
	// list returns the names in dir ("" for the top), one level, sorted.
	list(ctx context.Context, dir string) ([]string, error)
	// remove deletes the names (an empty folder too); missing ones are no error.
	remove(ctx context.Context, names ...string) error
	// clean removes what interrupted creates left behind.
	clean(ctx context.Context) error
	// uri names a file for people and for data.source.
	uri(name string) string
}

// maxFileBytes bounds a journal entry or the plan read back: an entry holds one shard's rows,
// about 150 bytes an image, so a shard of iNat 2021's 2.7M images whole is some 400 MB.
const maxFileBytes = 1 << 30

// sink is a file being created.
type sink interface {
	io.Writer
	commit() error
	abort()
}

// folder is a local output folder.
type folder struct{ dir string }

var _ store = folder{}

func newFolder(dir string) (folder, error) {
	if err := os.MkdirAll(filepath.Join(dir, journalDir), 0o755); err != nil {
		return folder{}, fmt.Errorf("repack: create %s: %w", dir, err)
	}
	return folder{dir: dir}, nil
}

func (f folder) path(name string) string { return filepath.Join(f.dir, filepath.FromSlash(name)) }

func (f folder) uri(name string) string { return f.path(name) }

type fileSink struct{ *atomicfile.File }

func (s fileSink) commit() error { return s.Commit() }
func (s fileSink) abort()        { s.Cleanup() }

func (f folder) create(_ context.Context, name string) (sink, error) {
	af, err := atomicfile.Create(f.path(name), 0o644)
	if err != nil {
		return nil, fmt.Errorf("repack: create %s: %w", f.path(name), err)
	}
	return fileSink{af}, nil
}

func (f folder) get(_ context.Context, name string) ([]byte, error) {
	b, err := regfile.ReadFile(f.path(name), maxFileBytes)
	if err != nil {
		return nil, fmt.Errorf("repack: read %w", err)
	}
	return b, nil
}

func (f folder) put(_ context.Context, name string, data []byte) error {
	if err := atomicfile.WriteFile(f.path(name), data, 0o644); err != nil {
		return fmt.Errorf("repack: write %s: %w", f.path(name), err)
	}
	return nil
}

func (f folder) list(_ context.Context, dir string) ([]string, error) {
	ents, err := os.ReadDir(f.path(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("repack: list %s: %w", f.path(dir), err)
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() {
			out = append(out, join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

func (f folder) remove(_ context.Context, names ...string) error {
	for _, n := range names {
		if err := os.Remove(f.path(n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("repack: %w", err)
		}
	}
	return nil
}

// tempName matches the temporary files of atomicfile (a dot, the name, digits) for the
// files this package writes.
var tempName = regexp.MustCompile(`^\.(` + shardPrefix + `-\d+\.tar|` + shardPrefix + `-\d+\.json|` + manifestName + `|` + planName + `)\d+$`)

func (f folder) clean(context.Context) error {
	for _, dir := range []string{f.dir, f.path(journalDir)} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("repack: %w", err)
		}
		for _, e := range ents {
			if !e.IsDir() && tempName.MatchString(e.Name()) {
				if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("repack: remove a partial file: %w", err)
				}
			}
		}
	}
	return nil
}

// join joins a store folder and a name.
func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// isShardName reports whether name is one of the shard files this package writes.
func isShardName(name string) bool {
	base := name[strings.LastIndex(name, "/")+1:]
	return strings.HasPrefix(base, shardPrefix+"-") && strings.HasSuffix(base, ".tar")
}
