//go:build !mpi || !cgo

package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommandsRefuseWithoutMPI: a natssl built without MPI that mpirun starts as 2 processes
// refuses in every command that could train or measure, with one line per rank, before any
// work (no tracker written), rather than training two models.
func TestCommandsRefuseWithoutMPI(t *testing.T) {
	needMpirun(t)
	for _, args := range [][]string{
		{"train", "--config", "smoke"},
		{"eval", "--config", "smoke", "--random-init"},
		{"bench", "train", "--config", "smoke", "--steps", "1"},
	} {
		t.Run(args[0], func(t *testing.T) {
			dir := t.TempDir()
			j := mpiJob{np: 2, env: []string{"NATSSL_RUN_DB=" + filepath.Join(dir, "natssl.db"), "NATSSL_RUN_OUT_DIR=" + dir}, args: args}.run(t)
			const want = "started 2 processes (OMPI_COMM_WORLD_SIZE=2), but this natssl was built without MPI"
			if j.code == 0 || strings.Count(j.out, want) != 2 {
				t.Fatalf("exit %d, want both ranks to refuse with %q\n%s", j.code, want, j.out)
			}
			if _, err := os.Stat(filepath.Join(dir, "natssl.db")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a tracker was written: %v", err)
			}
		})
	}
}
