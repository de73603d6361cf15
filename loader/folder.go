package loader

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/natssl/natssl/configs"
)

// FolderSource reads a folder of images recursively, one shard per directory that holds
// images. The label is the parent folder's name: its index among the sorted class names, or,
// when every class name starts with a number and an underscore as iNat 2021's folders do
// ("00042_Animalia_..."), that number.
type FolderSource struct {
	root    string
	limit   int64 // data.max_image_bytes
	shards  []Shard
	total   int64
	classes []string
}

var _ Source = (*FolderSource)(nil)

func openFolderSource(_ context.Context, d configs.Data) (Source, error) {
	s, err := OpenFolder(d.Source)
	if err != nil {
		return nil, err
	}
	s.limit = imageLimit(d)
	return s, nil
}

// OpenFolder walks root once to find the directories that hold images and count them. Only
// directory names and counts are kept; a directory's file names are read when its shard is.
func OpenFolder(root string) (*FolderSource, error) {
	fi, err := statSource("data.source", root)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("loader: data.source %s is neither a folder, a .json manifest nor a tar archive: %w", root, ErrNoSource)
	}
	s := &FolderSource{root: root, limit: DefaultMaxImageBytes}
	var dirs []*dirShard
	byDir := map[string]*dirShard{}
	err = filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("loader: walk %s: %w", p, err)
		}
		if de.IsDir() || !isImageName(de.Name()) {
			return nil
		}
		dir := filepath.Dir(p)
		d := byDir[dir]
		if d == nil {
			d = &dirShard{dir: dir, root: root, src: s}
			byDir[dir] = d
			dirs = append(dirs, d)
		}
		d.n++
		return nil
	})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, d := range dirs {
		if c := filepath.Base(d.dir); !seen[c] {
			seen[c] = true
			s.classes = append(s.classes, c)
		}
	}
	sort.Strings(s.classes)
	labels := classLabels(s.classes)
	for _, d := range dirs {
		d.label = labels[filepath.Base(d.dir)]
		s.total += int64(d.n)
		s.shards = append(s.shards, d)
	}
	return s, nil
}

// Shards returns one shard per directory holding images, in lexical order.
func (s *FolderSource) Shards() []Shard { return s.shards }

// Len returns the number of images counted at open.
func (s *FolderSource) Len(context.Context) (int64, error) { return s.total, nil }

// Classes returns the sorted class (parent folder) names.
func (s *FolderSource) Classes() []string { return s.classes }

// Close does nothing: files are opened per sample.
func (s *FolderSource) Close() error { return nil }

// classNumber returns the leading number of an iNat 2021 class folder name,
// "00042_Animalia_Arthropoda_..." → 42.
func classNumber(name string) (int, bool) {
	i := 0
	for i < len(name) && name[i] >= '0' && name[i] <= '9' {
		i++
	}
	if i == 0 || i == len(name) || name[i] != '_' {
		return 0, false
	}
	n, err := strconv.Atoi(name[:i])
	return n, err == nil
}

// classLabels maps sorted class names to labels: the leading number when every name has one,
// otherwise the index in sorted order.
func classLabels(sorted []string) map[string]int {
	m := make(map[string]int, len(sorted))
	numbered := len(sorted) > 0
	for _, c := range sorted {
		if _, ok := classNumber(c); !ok {
			numbered = false
			break
		}
	}
	for i, c := range sorted {
		m[c] = i
		if numbered {
			m[c], _ = classNumber(c)
		}
	}
	return m
}

// pathLabel is the label of a file inside an archive or bucket, where the full class list is
// not known in advance: the parent folder's leading number (iNat 2021 layout), else -1.
func pathLabel(p string) int {
	if n, ok := classNumber(path.Base(path.Dir(p))); ok {
		return n
	}
	return -1
}

// dirShard is the images directly inside one directory.
type dirShard struct {
	root, dir string
	n, label  int
	src       *FolderSource
}

func (d *dirShard) Name() string { return d.dir }

func (d *dirShard) Open(context.Context) (Records, error) {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return nil, fmt.Errorf("loader: read folder %s: %w", d.dir, err)
	}
	r := &dirRecords{d: d}
	for _, e := range entries {
		if !e.IsDir() && isImageName(e.Name()) {
			r.names = append(r.names, e.Name())
		}
	}
	return r, nil
}

type dirRecords struct {
	d     *dirShard
	names []string
	i     int
}

func (r *dirRecords) Next(ctx context.Context) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	if r.i >= len(r.names) {
		return Record{}, io.EOF
	}
	p := filepath.Join(r.d.dir, r.names[r.i])
	r.i++
	key, err := filepath.Rel(r.d.root, p)
	if err != nil {
		key = p
	}
	limit := r.d.src.limit
	return Record{Key: filepath.ToSlash(key), Label: r.d.label, Load: func(context.Context) ([]byte, error) {
		return readImageFile(p, limit)
	}}, nil
}

func (r *dirRecords) Close() error { return nil }
