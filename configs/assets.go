package configs

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
)

// presetFiles are the files the embedded presets read: the smoke preset's few real images and
// its NeWT-layout evaluation and validation suites. They travel inside the binary so that a
// preset runs from any folder and from a `go install`ed binary.
//
//go:embed smoke
var presetFiles embed.FS

// inputKeys are the keys whose values name files to read.
var inputKeys = []string{"data.source", "data.root", "eval.newt_csv", "eval.images", "eval.val_csv", "eval.val_images",
	"eval.monitor_newt_csv", "eval.monitor_newt_images", "eval.monitor_knn", "eval.monitor_knn_root"}

// resolvePresetFiles points the input keys that a preset set to a path of its embedded files
// (such as smoke/train) at a copy of those files written out once under cacheDir. Values from
// any other layer are left as they are.
func (c *Config) resolvePresetFiles(cacheDir string) *FieldError {
	for _, k := range inputKeys {
		if !strings.HasPrefix(c.Origin(k), "preset ") {
			continue
		}
		v, _ := c.Get(k)
		p, _ := v.(string)
		if p == "" || path.IsAbs(p) || !fs.ValidPath(p) {
			continue
		}
		if _, err := fs.Stat(presetFiles, p); err != nil {
			continue
		}
		dir, err := writePresetFiles(cacheDir)
		if err != nil {
			return &FieldError{Key: k, Value: p, Origin: c.Origin(k), Reason: err.Error()}
		}
		if err := c.set(k, filepath.Join(dir, filepath.FromSlash(p))); err != nil {
			return &FieldError{Key: k, Value: p, Origin: c.Origin(k), Reason: err.Error()}
		}
	}
	return nil
}

// defaultCacheDir is where embedded files are written out when Sources.CacheDir is empty.
func defaultCacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "natssl")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("natssl-cache-%d", os.Getuid()))
}

var written struct {
	sync.Mutex
	dirs map[string]string // cacheDir → folder holding the files
}

// writePresetFiles writes the embedded files under cacheDir, in a folder named after their
// content, and returns it. The folder is filled under a temporary name and renamed, so that a
// folder of that name is always complete; one left by an earlier run is used as it is.
func writePresetFiles(cacheDir string) (string, error) {
	written.Lock()
	defer written.Unlock()
	if d, ok := written.dirs[cacheDir]; ok {
		return d, nil
	}
	dir := filepath.Join(cacheDir, "presets-"+presetFilesHash())
	if _, err := os.Stat(dir); err != nil {
		if err := os.MkdirAll(cacheDir, 0o755); err != nil {
			return "", fmt.Errorf("write out the preset's embedded files: %w", err)
		}
		tmp, err := os.MkdirTemp(cacheDir, ".presets-")
		if err != nil {
			return "", fmt.Errorf("write out the preset's embedded files: %w", err)
		}
		if err := os.CopyFS(tmp, presetFiles); err != nil {
			os.RemoveAll(tmp)
			return "", fmt.Errorf("write out the preset's embedded files to %s: %w", tmp, err)
		}
		if err := os.Rename(tmp, dir); err != nil {
			os.RemoveAll(tmp)
			if _, serr := os.Stat(dir); serr != nil { // not written by another process meanwhile
				return "", fmt.Errorf("write out the preset's embedded files: %w", err)
			}
		}
	}
	if written.dirs == nil {
		written.dirs = map[string]string{}
	}
	written.dirs[cacheDir] = dir
	return dir, nil
}

// presetFilesHash names the embedded files' content: their paths and bytes.
func presetFilesHash() string {
	h := sha256.New()
	err := fs.WalkDir(presetFiles, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := presetFiles.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		panic(errors.Join(errors.New("configs: read embedded preset files"), err))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
