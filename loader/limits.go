package loader

import (
	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/internal/regfile"
)

// DefaultMaxImageBytes is the cap on one image read into memory when data.max_image_bytes
// is 0 (a configs.Data built in code).
const DefaultMaxImageBytes = 64 << 20

// imageLimit is data.max_image_bytes: the most bytes one image file, archive member or S3
// object may have to be read.
func imageLimit(d configs.Data) int64 {
	if d.MaxImageBytes > 0 {
		return int64(d.MaxImageBytes)
	}
	return DefaultMaxImageBytes
}

// readImageFile reads one local image: a regular file (a FIFO, a device or a link to one is
// refused without blocking) of at most limit bytes (a larger one is refused from its size,
// unread).
func readImageFile(p string, limit int64) ([]byte, error) {
	return regfile.ReadFile(p, limit)
}
