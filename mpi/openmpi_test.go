//go:build mpi && cgo

package mpi

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func TestWorldUnderMpirun(t *testing.T) {
	for _, np := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("np%d", np), func(t *testing.T) {
			j := mpirun(t, np, "world")
			j.allOK(t, np)
			for r := range np {
				want := fmt.Sprintf("rank %d: size %d local %d/%d backend %s\n", r, np, r, np, Backend)
				if !strings.Contains(j.out, want) {
					t.Errorf("no line %q\n%s", want, j.out)
				}
				want = fmt.Sprintf("rank %d: recovered runtime error: invalid memory address or nil pointer dereference\n", r)
				if !strings.Contains(j.out, want) {
					t.Errorf("a nil dereference is no Go panic under MPI: no line %q\n%s", want, j.out)
				}
			}
		})
	}
}

// TestSimulatedHosts: three ranks on two simulated machines (two on algo-1, one on algo-2),
// the remote shell replaced by a local script: the local ranks follow the machines, and the
// collectives work between machines (over TCP) as within one (shared memory).
func TestSimulatedHosts(t *testing.T) {
	agent, err := filepath.Abs("testdata/rsh-agent.sh")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", t.TempDir())
	hosts := []string{"--mca", "plm_rsh_agent", agent, "--host", "algo-1:2,algo-2:1"}
	j := mpirun(t, 3, "world", hosts...)
	j.allOK(t, 3)
	for _, want := range []string{"rank 0: size 3 local 0/2", "rank 1: size 3 local 1/2", "rank 2: size 3 local 0/1"} {
		if !strings.Contains(j.out, want+" ") {
			t.Errorf("no line %q\n%s", want, j.out)
		}
	}
	mpirun(t, 3, "collectives", hosts...).allOK(t, 3)
}

// TestCallsFromManyThreads: every call from another OS thread, as Go's scheduler may make them.
func TestCallsFromManyThreads(t *testing.T) {
	j := mpirun(t, 2, "threads")
	j.allOK(t, 2)
	if !strings.Contains(j.out, "rank 0: calls from 20 threads\n") {
		t.Errorf("the calls did not come from 20 threads\n%s", j.out)
	}
}

func TestCollectivesUnderMpirun(t *testing.T) {
	for _, np := range []int{2, 3} {
		t.Run(fmt.Sprintf("np%d", np), func(t *testing.T) {
			mpirun(t, np, "collectives").allOK(t, np)
		})
	}
}

// TestSumUnderMpirun: the ordered sum equals, bit for bit, the sum in rank order made in one
// process, for buckets from one float to several buffers; with three ranks, on data where
// another order gives another sum.
func TestSumUnderMpirun(t *testing.T) {
	for _, np := range []int{2, 3} {
		t.Run(fmt.Sprintf("np%d", np), func(t *testing.T) {
			j := mpirun(t, np, "sum")
			j.allOK(t, np)
			for _, l := range j.lines("rank 0: ") {
				t.Log(l)
			}
			if np >= 3 && strings.Contains(j.out, "reverse order differs on 0)") {
				t.Errorf("the random data do not tell summation orders apart\n%s", j.out)
			}
		})
	}
}

// TestFailReachesRankZero: rank 1 fails mid-sum; rank 0's sum returns rank 1's error (which
// it could record), and rank 0's Abort ends the job with its code.
func TestFailReachesRankZero(t *testing.T) {
	j := mpirun(t, 3, "fail")
	want := "rank 0: saw mpi: rank 1 failed: loader: shard 7: unexpected EOF\n"
	if j.code != 4 || !strings.Contains(j.out, want) {
		t.Fatalf("exit %d, want 4 and %q\n%s", j.code, want, j.out)
	}
}

// TestRankDeathEndsJob: a rank that exits (with an error, or even with 0 but without
// Finalize) or is killed mid-collective ends the whole job, the others being blocked in the
// collective it left: Open MPI's mpirun aborts a job when a rank ends early. Abort ends it
// from a goroutine while another waits in a collective; Fail ends it when rank 0 does not
// hear of the failure.
func TestRankDeathEndsJob(t *testing.T) {
	for _, tc := range []struct {
		name     string
		np, code int // code 0: any failure
	}{
		{"exit", 2, 1},
		{"exit0", 2, 0},
		{"kill", 3, 128 + 9},
		{"kill0", 2, 128 + 9},
		{"failunheard", 2, 3},
		{"abort", 2, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := mpirun(t, tc.np, tc.name)
			if j.code == 0 || tc.code != 0 && j.code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", j.code, tc.code, j.out)
			}
		})
	}
}

// TestVoteUnderMpirun: votes on a communicator of their own beside the World's sums, and an
// abandoned vote drained by Finalize (the job ends instead of hanging).
func TestVoteUnderMpirun(t *testing.T) {
	for _, np := range []int{2, 3} {
		t.Run(fmt.Sprintf("np%d", np), func(t *testing.T) {
			j := mpirun(t, np, "vote")
			j.allOK(t, np)
			if !strings.Contains(j.out, "rank 0: abandoned a vote\n") {
				t.Errorf("rank 0 abandoned no vote\n%s", j.out)
			}
		})
	}
}
