//go:build !mpi || !cgo

package mpi

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestInitRefusesWithoutMPI: a build without MPI started as one of several processes refuses
// with one line; a launcher's single process, or no launcher, is a world of one.
func TestInitRefusesWithoutMPI(t *testing.T) {
	for _, tc := range []struct {
		name, key, val string
		refuse         bool
	}{
		{"mpirun -np 2", "OMPI_COMM_WORLD_SIZE", "2", true},
		{"srun -n 4", "SLURM_STEP_NUM_TASKS", "4", true},
		{"hydra", "PMI_SIZE", "3", true},
		{"pmix rank 1", "PMIX_RANK", "1", true},
		{"mpirun -np 1", "OMPI_COMM_WORLD_SIZE", "1", false},
		{"pmix rank 0", "PMIX_RANK", "0", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tc.key, tc.val)
			forgetInit(t)
			if !tc.refuse {
				l, err := detect(func(k string) (string, bool) { return map[string]string{tc.key: tc.val}[k], k == tc.key })
				if err != nil {
					t.Fatal(err)
				}
				w, err := newWorld(l)
				if err != nil || w.Size() != 1 {
					t.Fatalf("world %+v, %v; want a world of one", w, err)
				}
				return
			}
			w, err := Init()
			if err == nil {
				t.Fatalf("Init under %s=%s: world of %d, want a refusal", tc.key, tc.val, w.Size())
			}
			if _, again := Init(); again != err {
				t.Errorf("a second Init: %v, want the first one's error", again)
			}
			msg := err.Error()
			if !errors.Is(err, ErrNoMPI) || strings.Contains(msg, "\n") || !strings.Contains(msg, tc.key+"="+tc.val) {
				t.Errorf("refusal %q: want one line wrapping ErrNoMPI and naming %s=%s", msg, tc.key, tc.val)
			}
			t.Log(msg)
		})
	}
}

// TestRefusesUnderMpirun: the same under a real mpirun: every rank refuses, and the job fails;
// one rank alone runs. mpirun is part of the test set-up (scripts/deps.sh installs it).
func TestRefusesUnderMpirun(t *testing.T) {
	if _, err := exec.LookPath("mpirun"); err != nil {
		t.Fatal("no mpirun to start a build without MPI under: install Debian's openmpi-bin (make test does: scripts/deps.sh)")
	}
	j := mpirun(t, 2, "world")
	if j.code == 0 || strings.Count(j.out, "this natssl was built without MPI") != 2 || j.lines("rank ") != nil {
		t.Errorf("exit %d, want both ranks to refuse\n%s", j.code, j.out)
	}
	j = mpirun(t, 1, "world")
	if j.code != 0 || !strings.Contains(j.out, "rank 0: size 1 local 0/1 backend "+Backend+"\n") {
		t.Errorf("exit %d, want a world of one\n%s", j.code, j.out)
	}
}

// forgetInit lets a test call Init afresh (a build without MPI holds no library state), and
// again after it.
func forgetInit(t *testing.T) {
	reset := func() {
		worldMu.Lock()
		world, worldErr = nil, nil
		worldMu.Unlock()
	}
	reset()
	t.Cleanup(reset)
}
