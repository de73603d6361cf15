package probe

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/natssl/natssl/internal/regfile"
	"github.com/natssl/natssl/internal/tarstream"
)

// readTar streams the archive file once, keeping the files whose base name without
// extension is a wanted id; the others are skipped unread.
func (im *Images) readTar(ctx context.Context, file string, want map[string]bool) error {
	f, err := regfile.Open(file)
	if err != nil {
		return fmt.Errorf("probe: open images %s: %w", file, err)
	}
	defer f.Close()
	tr, err := tarstream.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return fmt.Errorf("probe: images %s: %w", file, err)
	}
	defer tr.Close()
	for n := 0; ; n++ {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("probe: images %s: file %d: %w", file, n, err)
		}
		base := path.Base(h.Name)
		ext := path.Ext(base)
		if !isImageExt(ext) {
			continue
		}
		id := strings.TrimSuffix(base, ext)
		if !want[id] {
			continue
		}
		if _, dup := im.Data[id]; dup {
			continue
		}
		if h.Size > MaxImageBytes {
			return fmt.Errorf("probe: images %s: %s is %d bytes, over the limit of %d", file, h.Name, h.Size, MaxImageBytes)
		}
		b, err := tr.ReadAll()
		if err != nil {
			return fmt.Errorf("probe: images %s: read %s: %w", file, h.Name, err)
		}
		im.Data[id] = b
		im.Bytes += int64(len(b))
	}
}
