package report

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMain(m *testing.M) {
	// The smoke preset's embedded files are written out under the cache folder: one for the
	// tests (its content-named folder is reused from run to run), not the user's.
	os.Setenv("XDG_CACHE_HOME", filepath.Join(os.TempDir(), "natssl-test-cache"))
	os.Exit(m.Run())
}
