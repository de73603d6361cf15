package loader

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"sync"
)

// Manifest is an iNaturalist 2021 COCO-style manifest (train.json, val.json) held as compact
// records: per image its id, category and file name, the name split into an interned folder
// and a base name. iNat 2021's 2.7M training images take about 200 MB this way.
type Manifest struct {
	Images     []ManifestImage // in the manifest's order
	Categories []Category      // in the manifest's order
	Dirs       []string        // the folders of file names, interned; ManifestImage.Dir indexes it
	// Shards are the tar archives that hold the images, beside the manifest, when the
	// manifest says so (natssl data shard writes them): the default data.root.
	Shards []ManifestShard

	byName     []int32 // indexes of Images sorted by file name, for archive lookups
	byNameOnce sync.Once
}

// ManifestImage is one entry of the manifest's images array.
type ManifestImage struct {
	ID       int64
	Category int32 // category_id from annotations, -1 when the image has none
	Dir      int32 // index into Manifest.Dirs
	Base     string
}

// ManifestShard is one entry of the manifest's shards array (a natssl addition to the iNat
// form): an archive, relative to the manifest, with its image count, size and SHA-256.
type ManifestShard struct {
	FileName string `json:"file_name"`
	Images   int64  `json:"images"`
	Bytes    int64  `json:"bytes"`
	SHA256   string `json:"sha256"`
}

// Category is one entry of the manifest's categories array.
type Category struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// FileName returns the i-th image's file_name as the manifest wrote it.
func (m *Manifest) FileName(i int) string {
	im := &m.Images[i]
	if d := m.Dirs[im.Dir]; d != "" {
		return d + "/" + im.Base
	}
	return im.Base
}

// Lookup returns the index of the image whose file_name is name.
func (m *Manifest) Lookup(name string) (int, bool) {
	m.byNameOnce.Do(func() {
		m.byName = make([]int32, len(m.Images))
		for i := range m.byName {
			m.byName[i] = int32(i)
		}
		sort.Slice(m.byName, func(a, b int) bool {
			return m.FileName(int(m.byName[a])) < m.FileName(int(m.byName[b]))
		})
	})
	k := sort.Search(len(m.byName), func(j int) bool { return m.FileName(int(m.byName[j])) >= name })
	if k < len(m.byName) && m.FileName(int(m.byName[k])) == name {
		return int(m.byName[k]), true
	}
	return 0, false
}

// ErrManifest is wrapped by every error about a manifest's content.
var ErrManifest = errors.New("loader: bad manifest")

// ParseManifest reads a COCO-style manifest from r, element by element: the document is
// never held whole. name is used in errors, which give the byte offset and the array element.
func ParseManifest(name string, r io.Reader) (*Manifest, error) {
	p := &manifestParser{name: name, dec: json.NewDecoder(r), m: &Manifest{}, dirs: map[string]int32{}}
	if err := p.parse(); err != nil {
		return nil, err
	}
	return p.m, nil
}

type manifestParser struct {
	name        string
	dec         *json.Decoder
	m           *Manifest
	dirs        map[string]int32
	annotations []annotation
	sawImages   bool
}

type annotation struct {
	image    int64
	category int32
}

func (p *manifestParser) errorf(format string, args ...any) error {
	return fmt.Errorf("loader: manifest %s at byte %d: %s: %w", p.name, p.dec.InputOffset(), fmt.Sprintf(format, args...), ErrManifest)
}

func (p *manifestParser) parse() error {
	tok, err := p.dec.Token()
	if err != nil {
		return p.errorf("not JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return p.errorf("not a JSON object (starts with %v)", tok)
	}
	for p.dec.More() {
		tok, err := p.dec.Token()
		if err != nil {
			return p.errorf("not JSON: %v", err)
		}
		key, _ := tok.(string)
		switch key {
		case "images":
			p.sawImages = true
			err = p.array(key, p.image)
		case "annotations":
			err = p.array(key, p.annotation)
		case "categories":
			err = p.array(key, p.category)
		case "shards":
			err = p.array(key, p.shard)
		default:
			var skip json.RawMessage
			if err := p.dec.Decode(&skip); err != nil {
				return p.errorf("key %q: not JSON: %v", key, err)
			}
		}
		if err != nil {
			return err
		}
	}
	if _, err := p.dec.Token(); err != nil {
		return p.errorf("not JSON: %v", err)
	}
	if _, err := p.dec.Token(); err != io.EOF {
		return p.errorf("data after the top-level object")
	}
	if !p.sawImages {
		return p.errorf("no \"images\" array")
	}
	return p.join()
}

// array decodes each element of a JSON array with one.
func (p *manifestParser) array(key string, one func(i int) error) error {
	tok, err := p.dec.Token()
	if err != nil {
		return p.errorf("%s: not JSON: %v", key, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return p.errorf("%s: want an array", key)
	}
	for i := 0; p.dec.More(); i++ {
		if err := one(i); err != nil {
			return err
		}
	}
	if _, err := p.dec.Token(); err != nil {
		return p.errorf("%s: not JSON: %v", key, err)
	}
	return nil
}

func (p *manifestParser) image(i int) error {
	var row struct {
		ID       *int64 `json:"id"`
		FileName string `json:"file_name"`
	}
	if err := p.dec.Decode(&row); err != nil {
		return p.errorf("images[%d]: %v", i, err)
	}
	if row.ID == nil {
		return p.errorf("images[%d]: no id", i)
	}
	name := strings.TrimPrefix(path.Clean("/"+row.FileName), "/")
	if row.FileName == "" || name == "" {
		return p.errorf("images[%d] (id %d): no file_name", i, *row.ID)
	}
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	d, ok := p.dirs[dir]
	if !ok {
		d = int32(len(p.m.Dirs))
		p.dirs[dir] = d
		p.m.Dirs = append(p.m.Dirs, dir)
	}
	p.m.Images = append(p.m.Images, ManifestImage{ID: *row.ID, Category: -1, Dir: d, Base: base})
	return nil
}

func (p *manifestParser) annotation(i int) error {
	var row struct {
		ImageID    *int64 `json:"image_id"`
		CategoryID *int32 `json:"category_id"`
	}
	if err := p.dec.Decode(&row); err != nil {
		return p.errorf("annotations[%d]: %v", i, err)
	}
	if row.ImageID == nil || row.CategoryID == nil {
		return p.errorf("annotations[%d]: want image_id and category_id", i)
	}
	p.annotations = append(p.annotations, annotation{*row.ImageID, *row.CategoryID})
	return nil
}

func (p *manifestParser) category(i int) error {
	var c Category
	if err := p.dec.Decode(&c); err != nil {
		return p.errorf("categories[%d]: %v", i, err)
	}
	p.m.Categories = append(p.m.Categories, c)
	return nil
}

func (p *manifestParser) shard(i int) error {
	var sh ManifestShard
	if err := p.dec.Decode(&sh); err != nil {
		return p.errorf("shards[%d]: %v", i, err)
	}
	name := path.Clean(sh.FileName)
	if sh.FileName == "" || path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") || strings.Contains(name, "/") {
		return p.errorf("shards[%d]: file_name %q: want an archive name beside the manifest", i, sh.FileName)
	}
	p.m.Shards = append(p.m.Shards, sh)
	return nil
}

// join sets each image's category from the annotations, through an index sorted by id.
func (p *manifestParser) join() error {
	byID := make([]int32, len(p.m.Images))
	for i := range byID {
		byID[i] = int32(i)
	}
	ims := p.m.Images
	sort.Slice(byID, func(a, b int) bool { return ims[byID[a]].ID < ims[byID[b]].ID })
	for i, a := range p.annotations {
		k := sort.Search(len(byID), func(j int) bool { return ims[byID[j]].ID >= a.image })
		if k == len(byID) || ims[byID[k]].ID != a.image {
			return fmt.Errorf("loader: manifest %s: annotations[%d]: image_id %d is not in images: %w", p.name, i, a.image, ErrManifest)
		}
		ims[byID[k]].Category = a.category
	}
	p.annotations = nil
	return nil
}
