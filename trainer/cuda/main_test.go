package cuda

import (
	"os"
	"testing"
)

// TestMain runs the test binary as a lookup child when asked (stub_test.go), and removes
// what the tests shared: the host simulation and the GPU tests' kernel cache.
func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	code := m.Run()
	// The shared host simulation and GPU kernel cache live for the whole run.
	if hostRun != nil {
		hostRun.Close()
	}
	for _, d := range []string{hostDir, gpuCache} {
		if d != "" {
			os.RemoveAll(d)
		}
	}
	os.Exit(code)
}
