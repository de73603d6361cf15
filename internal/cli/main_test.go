package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// asNatssl makes the test binary run as natssl: the sweep tests' trials are child processes of
// "this program" (os.Executable), which under go test is the test binary.
const asNatssl = "GO_TEST_AS_NATSSL"

// pidDirEnv names a folder where the test binary run as natssl writes its pid, in a file
// rank-<OMPI_COMM_WORLD_RANK>.
const pidDirEnv = "GO_TEST_NATSSL_PID_DIR"

func TestMain(m *testing.M) {
	// The smoke preset's embedded files are written out under the cache folder: one for the
	// tests (its content-named folder is reused from run to run), not the user's.
	os.Setenv("XDG_CACHE_HOME", filepath.Join(os.TempDir(), "natssl-test-cache"))
	if os.Getenv(asNatssl) == "1" {
		if dir := os.Getenv(pidDirEnv); dir != "" {
			// A rank under mpirun says where it is, for the tests that kill one.
			name := filepath.Join(dir, "rank-"+os.Getenv("OMPI_COMM_WORLD_RANK"))
			if err := os.WriteFile(name, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
				panic(err)
			}
		}
		os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
