package cuda

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/natssl/natssl/internal/atomicfile"
)

// CacheKey identifies compiled kernels: the source and the compiler's options, the NVRTC
// that compiled them, the driver that loads them and the target architecture. A change of
// any of them compiles afresh.
type CacheKey struct {
	Source  string // SourceHash
	Options string // NVRTC's options besides the architecture
	NVRTC   string // NVRTC version, "13.0"
	Driver  int    // driver version, 13000
	Target  string // sm_90 (CUBIN) or compute_90 (PTX)
}

// File is the cache file's name: the target (for a reader of the folder) and a digest of
// the whole key.
func (k CacheKey) File() string {
	s := sha256.Sum256(fmt.Appendf(nil, "natssl-kernels\x00%s\x00%s\x00%s\x00%d\x00%s", k.Source, k.Options, k.NVRTC, k.Driver, k.Target))
	ext := ".cubin"
	if len(k.Target) > 8 && k.Target[:8] == "compute_" {
		ext = ".ptx"
	}
	return fmt.Sprintf("kernels-%s-%s%s", k.Target, hex.EncodeToString(s[:12]), ext)
}

// DefaultCacheDir is os.UserCacheDir()/natssl/cuda.
func DefaultCacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("cuda: kernel cache: %w", err)
	}
	return filepath.Join(base, "natssl", "cuda"), nil
}

// kernelCache is a folder of compiled kernels, one file per CacheKey.
type kernelCache struct{ dir string }

func (c kernelCache) path(k CacheKey) string { return filepath.Join(c.dir, k.File()) }

// read returns the cached image for k, if there is one.
func (c kernelCache) read(k CacheKey) ([]byte, bool) {
	data, err := os.ReadFile(c.path(k))
	if err != nil || len(data) == 0 {
		return nil, false
	}
	return data, true
}

// write stores image under k atomically: a reader (another process compiling the same
// kernels at the same time) sees the whole file or none.
func (c kernelCache) write(k CacheKey, image []byte) error {
	path := c.path(k)
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return fmt.Errorf("cuda: kernel cache %s: %w", c.dir, err)
	}
	if err := atomicfile.WriteFile(path, image, 0o644); err != nil {
		return fmt.Errorf("cuda: write kernel cache %s: %w", path, err)
	}
	return nil
}
