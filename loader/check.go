package loader

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/internal/tarstream"
)

// Check looks at the local inputs of a data config before any work, cheaply: that
// data.source names a folder holding at least one image, a manifest file, or tar archives
// that exist, and that a local data.root exists. It returns one problem per key, naming the
// folder a relative path was read from (the usual mistake: a config written for another
// folder); nil when all is well. s3:// inputs are not checked here (that needs the network;
// opening the source does).
func Check(d configs.Data) configs.Errors {
	var errs configs.Errors
	bad := func(key, value, reason string) {
		errs = append(errs, &configs.FieldError{Key: key, Value: value, Reason: reason + relativeTo(value)})
	}
	src := strings.TrimPrefix(d.Source, "file://")
	root := strings.TrimPrefix(d.Root, "file://")
	switch {
	case src == "" || strings.HasPrefix(src, "s3://"):
	case strings.EqualFold(filepath.Ext(src), ".json"):
		if reason := checkFile(src); reason != "" {
			bad("data.source", d.Source, reason)
			break // the root is where the manifest's files are: nothing to say of it without one
		}
		if root != "" && !strings.HasPrefix(root, "s3://") {
			if tarstream.IsName(root) {
				if _, err := expandLocal("data.root", root); err != nil {
					bad("data.root", d.Root, patternReason(err))
				}
			} else if reason := checkDir(root, false); reason != "" {
				bad("data.root", d.Root, reason)
			}
		}
	case tarstream.IsName(src):
		if _, err := expandLocal("data.source", src); err != nil {
			bad("data.source", d.Source, patternReason(err))
		}
	default:
		if reason := checkDir(src, true); reason != "" {
			bad("data.source", d.Source, reason)
		}
	}
	return errs
}

// checkFile says what is wrong with a path that should be a readable file; "" when nothing.
func checkFile(p string) string {
	st, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file" + nearest(p)
	case err != nil:
		return unwrapPath(err).Error()
	case st.IsDir():
		return "a folder, not a manifest file"
	}
	return ""
}

// checkDir says what is wrong with a path that should be a folder (holding an image somewhere
// below it when images is set); "" when nothing. The walk stops at the first image.
func checkDir(p string, images bool) string {
	st, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such folder" + nearest(p)
	case err != nil:
		return unwrapPath(err).Error()
	case !st.IsDir():
		return "neither a folder, a .json manifest nor a tar archive"
	case !images:
		return ""
	}
	found := false
	err = filepath.WalkDir(p, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !de.IsDir() && isImageName(de.Name()) {
			found = true
			return fs.SkipAll
		}
		return nil
	})
	switch {
	case err != nil:
		return unwrapPath(err).Error()
	case !found:
		return "the folder holds no .jpg, .jpeg or .png images"
	}
	return ""
}

// nearest names the deepest folder of p that exists and the first part below it that does
// not, so that a typo deep in a path is easy to see.
func nearest(p string) string {
	missing := filepath.Clean(p)
	for dir := filepath.Dir(missing); dir != "." && dir != missing; dir = filepath.Dir(dir) {
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			return fmt.Sprintf(" (%s exists, %s does not)", dir, missing)
		}
		missing = dir
	}
	return ""
}

// relativeTo names the folder a relative local path was read from; "" for an absolute path
// or a URL.
func relativeTo(p string) string {
	p = strings.TrimPrefix(p, "file://")
	if p == "" || filepath.IsAbs(p) || strings.Contains(p, "://") {
		return ""
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	return "; a relative path is read from the current folder, " + wd
}

// patternReason is what expandLocal's error says, without the key and value the caller names.
func patternReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	if errors.Is(err, ErrNoSource) {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "matches no files"):
			return "matches no files"
		case strings.Contains(msg, "does not exist"):
			return "names archives that do not exist"
		}
	}
	return strings.TrimPrefix(err.Error(), "loader: ")
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}
