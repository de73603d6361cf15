package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// asNatssl makes the test binary run as natssl: the sweep tests' trials are child processes of
// "this program" (os.Executable), which under go test is the test binary.
const asNatssl = "GO_TEST_AS_NATSSL"

func TestMain(m *testing.M) {
	// The smoke preset's embedded files are written out under the cache folder: one for the
	// tests (its content-named folder is reused from run to run), not the user's.
	os.Setenv("XDG_CACHE_HOME", filepath.Join(os.TempDir(), "natssl-test-cache"))
	if os.Getenv(asNatssl) == "1" {
		os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
