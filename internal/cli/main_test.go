package cli

import (
	"os"
	"testing"
)

// asNatssl makes the test binary run as natssl: the sweep tests' trials are child processes of
// "this program" (os.Executable), which under go test is the test binary.
const asNatssl = "GO_TEST_AS_NATSSL"

func TestMain(m *testing.M) {
	if os.Getenv(asNatssl) == "1" {
		os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
