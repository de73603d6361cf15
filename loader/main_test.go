package loader

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind (the loader's dispatcher,
// fetchers and workers, S3 connections).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
