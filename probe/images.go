package probe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/natssl/natssl/internal/regfile"
	"github.com/natssl/natssl/internal/tarstream"
)

// Images holds the encoded bytes of the images a suite needs, by id.
type Images struct {
	Source string
	Data   map[string][]byte
	Bytes  int64
}

// MissingError lists ids of the suite that have no image in the source.
type MissingError struct {
	Source string
	IDs    []string // all missing ids, sorted
}

func (e *MissingError) Error() string {
	first := e.IDs
	if len(first) > 5 {
		first = first[:5]
	}
	more := ""
	if len(e.IDs) > len(first) {
		more = ", ..."
	}
	return fmt.Sprintf("probe: %d ids of the suite have no image in %s (%s%s); --skip-missing goes on without them",
		len(e.IDs), e.Source, strings.Join(first, ", "), more)
}

// MaxImageBytes bounds one NeWT image read into memory (NeWT's are tens of kilobytes); a
// larger one, or a path that is not a regular file, is an error naming it.
const MaxImageBytes = 64 << 20

// imageExts are the extensions an image may have, in order of preference; NeWT uses .jpg.
var imageExts = []string{".jpg", ".jpeg", ".png"}

// ReadImages reads the images of ids from src: a folder holding <id>.jpg (or .jpeg/.png), or a
// .tar / .tar.gz / .tgz archive (any letter case; gzip or not by content) streamed once, never
// extracted, in which any file whose base name without extension is a wanted id is kept (so
// both newt2021_images/<id>.jpg and <id>.jpg match). Other files are skipped unread. Ids without an image are returned as a
// *MissingError together with the images that were found.
func ReadImages(ctx context.Context, src string, ids []string) (*Images, error) {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		if !PlainID(id) {
			return nil, fmt.Errorf("probe: images %s: id %q is not a plain file name", src, id)
		}
		want[id] = true
	}
	im := &Images{Source: src, Data: make(map[string][]byte, len(ids))}
	st, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("probe: images %s: %w", src, err)
	}
	switch {
	case st.IsDir():
		err = im.readDir(ctx, src, ids)
	case tarstream.IsName(src):
		err = im.readTar(ctx, src, want)
	default:
		err = fmt.Errorf("probe: images %s: neither a folder nor a .tar, .tar.gz or .tgz archive", src)
	}
	if err != nil {
		return nil, err
	}
	var missing []string
	for id := range want {
		if _, ok := im.Data[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return im, &MissingError{Source: src, IDs: missing}
	}
	return im, nil
}

func (im *Images) readDir(ctx context.Context, dir string, ids []string) error {
	for i, id := range ids {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if _, ok := im.Data[id]; ok {
			continue
		}
		for _, ext := range imageExts {
			p := filepath.Join(dir, id+ext)
			b, err := regfile.ReadFile(p, MaxImageBytes)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return fmt.Errorf("probe: read image %s: %w", p, err)
			}
			im.Data[id] = b
			im.Bytes += int64(len(b))
			break
		}
	}
	return nil
}

func isImageExt(ext string) bool {
	ext = strings.ToLower(ext)
	for _, e := range imageExts {
		if ext == e {
			return true
		}
	}
	return false
}
