package mpi

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

var (
	// ErrNoMPI is wrapped by Init's refusal in a build without MPI started as several processes.
	ErrNoMPI = errors.New("this natssl was built without MPI")
	// ErrFinalized is returned by every call after Finalize, and by Init after Finalize (MPI
	// cannot start twice in one process).
	ErrFinalized = errors.New("mpi: finalized")
)

// FailGrace is how long Fail on a rank other than 0 waits for rank 0 to end the job (after
// recording the failure) before it ends the job itself.
const FailGrace = 10 * time.Second

// failGrace is FailGrace, shortened by the test of a rank 0 that never looks.
var failGrace = FailGrace

// failMax bounds the failure message Fail sends to rank 0 (its receive buffer's size).
const failMax = 1024

// Error is an error reported by the MPI library.
type Error struct {
	Op   string // the operation: "allgather", "bcast", ...
	Code int    // the MPI error code
	Msg  string // MPI_Error_string's text
}

func (e *Error) Error() string { return fmt.Sprintf("mpi: %s: %s (MPI error %d)", e.Op, e.Msg, e.Code) }

// RankError is how rank 0 learns that another rank called Fail: a collective call on rank 0
// returns it instead of waiting forever for the failed rank.
type RankError struct {
	Rank int    // the rank that failed
	Msg  string // its error, as it passed it to Fail
}

func (e *RankError) Error() string { return fmt.Sprintf("mpi: rank %d failed: %s", e.Rank, e.Msg) }

// comm is the communication of one build: Open MPI's (openmpi.go), or a world of one process
// (solo). Calls come one at a time (World holds a lock around them); every collective is made
// by all ranks in the same order with the same lengths.
type comm interface {
	barrier() error
	bcast(p []byte) error // rank 0's p into everyone's p
	allgather(send, recv []float32) error
	allgatherInt32(send int32, recv []int32) error
	allgatherInt64(send, recv []int64) error // len(recv) = size·len(send)
	allgatherBytes(send, recv []byte) error  // len(recv) = size·len(send)
	// reduceScatter sends chunk j of x (chunkRange(len(x), size, j)) to rank j, which
	// receives every rank's contribution to its chunk in recv, rank after rank.
	reduceScatter(x, recv []float32) error
	// gatherChunks gives everyone every rank's own chunk of x, in place.
	gatherChunks(x []float32) error
	// allreduceUnordered is MPI_Allreduce(MPI_SUM) in place, the library's order of addition:
	// the reference of the tests and the benchmark.
	allreduceUnordered(x []float32) error
	fail(code int, msg string) // never returns
	abort(code int)            // never returns
	finalize() error
	newVote() (voter, error)
}

// voter is one Vote's communication: a logical or over the ranks on a communicator of its own.
type voter interface {
	// vote returns whether any rank voted yes, or ctx's cause when ctx ends first: the vote
	// is then left pending, to be completed by drain.
	vote(ctx context.Context, yes bool) (bool, error)
	started() int64 // the votes this rank has started
	// drain completes a pending vote, takes part in more further votes (no) that other
	// ranks wait in, and frees the communicator.
	drain(more int64) error
}

// solo is a world of one process: every collective is a copy or nothing, and ending the job
// is exiting.
type solo struct{}

var _ comm = solo{}

func (solo) barrier() error                                { return nil }
func (solo) bcast([]byte) error                            { return nil }
func (solo) allgather(send, recv []float32) error          { copy(recv, send); return nil }
func (solo) allgatherInt32(send int32, recv []int32) error { recv[0] = send; return nil }
func (solo) allgatherInt64(send, recv []int64) error       { copy(recv, send); return nil }
func (solo) allgatherBytes(send, recv []byte) error        { copy(recv, send); return nil }
func (solo) reduceScatter(x, recv []float32) error         { copy(recv, x); return nil }
func (solo) gatherChunks([]float32) error                  { return nil }
func (solo) allreduceUnordered([]float32) error            { return nil }
func (solo) fail(code int, _ string)                       { os.Exit(code) }
func (solo) abort(code int)                                { os.Exit(code) }
func (solo) finalize() error                               { return nil }
func (solo) newVote() (voter, error)                       { return soloVote{}, nil }

// soloVote is a vote of one: its answer is the question's.
type soloVote struct{}

func (soloVote) vote(ctx context.Context, yes bool) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, context.Cause(ctx)
	}
	return yes, nil
}
func (soloVote) started() int64    { return 0 }
func (soloVote) drain(int64) error { return nil }

// World is the group of processes of one job (MPI_COMM_WORLD). Its methods may be called from
// any goroutine; they run one at a time. Every rank must make the same collective calls
// (Barrier, Bcast, Agree, Allgather, Reducer.Sum, Finalize) in the same order.
type World struct {
	rank, size           int
	localRank, localSize int
	launcher             string
	killGrace            time.Duration

	mu        sync.Mutex
	c         comm
	finalized atomic.Bool // read without the lock by Abort and Fail
	failed    error       // a RankError received on rank 0: every later call returns it
	votes     []*Vote     // drained by Finalize
}

var (
	worldMu  sync.Mutex
	world    *World
	worldErr error // a failed Init's error: MPI cannot be initialised twice
)

// Init joins the job this process was started in and returns its World; later calls return the
// same World. A process that no MPI launcher started is a world of one, MPI or not: MPI itself
// is initialised only under a launcher (mpirun, srun, ...), which the environment tells.
//
// A build without MPI (Backend "none") refuses, with an error wrapping ErrNoMPI, when the
// environment says the launcher started several processes: each would otherwise train a
// model of its own.
func Init() (*World, error) {
	worldMu.Lock()
	defer worldMu.Unlock()
	switch {
	case worldErr != nil:
		return nil, worldErr
	case world != nil && world.finalized.Load():
		return nil, ErrFinalized
	case world != nil:
		return world, nil
	}
	l, err := detect(os.LookupEnv)
	if err == nil {
		world, err = newWorld(l)
	}
	worldErr = err
	return world, err
}

// newWorld starts the build's communication when l says a launcher started this process.
func newWorld(l launch) (*World, error) {
	if !l.launched() {
		return &World{size: 1, localSize: 1, launcher: l.by, c: solo{}}, nil
	}
	c, p, err := start(l)
	if err != nil {
		return nil, err
	}
	return &World{rank: p.rank, size: p.size, localRank: p.localRank, localSize: p.localSize, launcher: l.by, killGrace: l.killGrace, c: c}, nil
}

// place is a process's place in the job.
type place struct{ rank, size, localRank, localSize int }

// Rank is this process's rank, 0 ≤ Rank < Size.
func (w *World) Rank() int { return w.rank }

// Size is the number of processes in the job.
func (w *World) Size() int { return w.size }

// LocalRank is this process's rank among the job's processes on its machine (the device it
// should use, one process per device).
func (w *World) LocalRank() int { return w.localRank }

// LocalSize is the number of the job's processes on this machine.
func (w *World) LocalSize() int { return w.localSize }

// Launcher names what started this process ("mpirun (Open MPI)", "srun", ...), or "" when
// no MPI launcher did.
func (w *World) Launcher() string { return w.launcher }

// KillGrace is how long the launcher leaves a rank between SIGTERM and SIGKILL when it ends
// the job: under Open MPI's mpirun, odls_base_sigkill_timeout (1 s unless --mca
// odls_base_sigkill_timeout N); 0 when the launcher does not say (srun: Slurm's KillWait).
func (w *World) KillGrace() time.Duration { return w.killGrace }

// call runs f under the lock unless the world is finalized or has learnt of a failed rank.
func (w *World) call(f func() error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finalized.Load() {
		return ErrFinalized
	}
	if w.failed != nil {
		return w.failed
	}
	err := f()
	var re *RankError
	if errors.As(err, &re) {
		w.failed = re
	}
	return err
}

// Barrier returns when every rank has called it.
func (w *World) Barrier() error { return w.call(w.c.barrier) }

// Bcast returns rank 0's data on every rank (rank 0 gets data itself back; the others'
// argument is ignored and may be nil): a checkpoint's header or state, a config.
func (w *World) Bcast(data []byte) ([]byte, error) {
	var out []byte
	err := w.call(func() error {
		n := make([]byte, 8)
		if w.rank == 0 {
			binary.LittleEndian.PutUint64(n, uint64(len(data)))
		}
		if err := w.c.bcast(n); err != nil {
			return err
		}
		out = data
		if w.rank != 0 {
			out = make([]byte, binary.LittleEndian.Uint64(n))
		}
		// MPI counts are C ints: big payloads go in pieces of 1 GiB.
		for off := 0; off < len(out); off += 1 << 30 {
			if err := w.c.bcast(out[off:min(off+1<<30, len(out))]); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// Agree checks that every rank holds the same b as rank 0 (a config hash, a checkpoint's step)
// and returns the same error on every rank when some do not, naming them.
func (w *World) Agree(what string, b []byte) error {
	ref, err := w.Bcast(b)
	if err != nil {
		return err
	}
	var same int32 = 1
	if string(ref) != string(b) {
		same = 0
	}
	all := make([]int32, w.size)
	if err := w.call(func() error { return w.c.allgatherInt32(same, all) }); err != nil {
		return err
	}
	var differ []int
	for r, s := range all {
		if s == 0 {
			differ = append(differ, r)
		}
	}
	if len(differ) > 0 {
		return fmt.Errorf("mpi: %s differs from rank 0's on rank(s) %v", what, differ)
	}
	return nil
}

// Allgather puts every rank's send into recv, rank after rank: recv[r*len(send):] holds rank
// r's. Every rank sends the same length, and len(recv) = Size·len(send).
func (w *World) Allgather(send, recv []float32) error {
	if len(recv) != w.size*len(send) {
		return fmt.Errorf("mpi: allgather: receive length %d, want %d ranks × %d", len(recv), w.size, len(send))
	}
	return w.call(func() error { return w.c.allgather(send, recv) })
}

// AllgatherInt64 returns every rank's send, rank after rank; every rank sends the same length.
func (w *World) AllgatherInt64(send []int64) ([]int64, error) {
	recv := make([]int64, w.size*len(send))
	return recv, w.call(func() error { return w.c.allgatherInt64(send, recv) })
}

// AllgatherBytes returns every rank's b, in rank order; the lengths may differ (a loader
// position, a rank's counters as JSON).
func (w *World) AllgatherBytes(b []byte) ([][]byte, error) {
	lens, err := w.AllgatherInt64([]int64{int64(len(b))})
	if err != nil {
		return nil, err
	}
	n := int(slices.Max(lens))
	out := make([][]byte, w.size)
	if n == 0 {
		return out, nil
	}
	send := make([]byte, n)
	copy(send, b)
	recv := make([]byte, w.size*n)
	if err := w.call(func() error { return w.c.allgatherBytes(send, recv) }); err != nil {
		return nil, err
	}
	for r := range out {
		out[r] = recv[r*n : r*n+int(lens[r])]
	}
	return out, nil
}

// Finalize leaves the job: every rank calls it before exiting (an Open MPI rank that exits
// without it ends the whole job as failed). It returns a RankError on rank 0 when a rank
// failed meanwhile; further calls do nothing.
func (w *World) Finalize() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finalized.Load() {
		return nil
	}
	if w.failed != nil {
		return w.failed
	}
	err := w.drainVotes()
	if err == nil {
		err = w.c.barrier()
	}
	if err == nil {
		err = w.c.finalize()
	}
	var re *RankError
	if errors.As(err, &re) {
		w.failed = re
		return err
	}
	w.finalized.Store(true)
	return err
}

// Abort ends the whole job now: every rank exits and the launcher exits with code. It does
// not wait for the other methods' lock (a goroutine may be stuck in a collective whose peer
// died), and it never returns. After Finalize it only ends this process.
func (w *World) Abort(code int) {
	if w.finalized.Load() {
		os.Exit(code)
	}
	w.c.abort(code)
}

// Fail ends the whole job because this rank cannot go on; print err first, Fail does not. On
// rank 0 it is Abort(code). On another rank it first sends err's text to rank 0, whose
// current or next collective call returns a RankError with it, so that rank 0 can record the
// failure before it calls Abort; if rank 0 has not ended the job after FailGrace, this rank
// does. Fail never returns.
func (w *World) Fail(code int, err error) {
	if w.rank == 0 || w.finalized.Load() || !w.mu.TryLock() && !w.lockWithin(time.Second) {
		w.Abort(code)
	}
	msg := "unknown error"
	if err != nil {
		msg = err.Error()
	}
	if len(msg) > failMax {
		msg = msg[:failMax]
	}
	w.c.fail(code, msg)
}

// lockWithin takes the lock if it frees up within d.
func (w *World) lockWithin(d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if w.mu.TryLock() {
			return true
		}
	}
	return false
}
