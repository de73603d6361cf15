//go:build mpi && cgo

package mpi

/*
#cgo pkg-config: ompi-c
#include <mpi.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { natFailed = -1, natCanceled = -2, natTagFail = 7301 };

// natMu serialises every call into MPI (MPI_THREAD_SERIALIZED) except MPI_Abort. It is held
// for one call at a time, never across a wait: a collective of one communicator (a vote of
// the loader's) can progress while another goroutine waits in one of another (a step's sum).
static pthread_mutex_t natMu = PTHREAD_MUTEX_INITIALIZER;
#define LOCKED(x) (pthread_mutex_lock(&natMu), natRc = (x), pthread_mutex_unlock(&natMu), natRc)
static __thread int natRc;

static MPI_Comm natComm = MPI_COMM_NULL;
static int natRank, natSize;
static int *natCounts; // send counts, send displacements, receive counts, receive displacements

// Rank 0 keeps a receive posted for other ranks' failure reports (Fail). Once one has come,
// natFailFrom stays set and every wait returns natFailed.
static MPI_Request natFailReq = MPI_REQUEST_NULL;
static char natFailBuf[1024];
static int natFailFrom = -1, natFailLen;

static int nat_start(int *rank, int *size, int *lrank, int *lsize, int *provided) {
	int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, provided);
	if (rc != MPI_SUCCESS) return rc;
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	// A communicator of our own: its messages cannot meet anyone else's.
	if ((rc = MPI_Comm_dup(MPI_COMM_WORLD, &natComm)) != MPI_SUCCESS) return rc;
	MPI_Comm_set_errhandler(natComm, MPI_ERRORS_RETURN);
	MPI_Comm_rank(natComm, rank);
	MPI_Comm_size(natComm, size);
	natRank = *rank;
	natSize = *size;
	natCounts = malloc(4 * sizeof(int) * (size_t)*size);
	MPI_Comm local;
	if ((rc = MPI_Comm_split_type(natComm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local)) != MPI_SUCCESS) return rc;
	MPI_Comm_rank(local, lrank);
	MPI_Comm_size(local, lsize);
	MPI_Comm_free(&local);
	if (natRank == 0 && natSize > 1) {
		rc = MPI_Irecv(natFailBuf, sizeof natFailBuf, MPI_CHAR, MPI_ANY_SOURCE, natTagFail, natComm, &natFailReq);
	}
	return rc;
}

static double nat_now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// nat_test tests req and, on rank 0, the failure report, under the lock: 1 when req is
// complete, 0 when not, natFailed when a failure report came, or an MPI error.
static int nat_test(MPI_Request *req) {
	pthread_mutex_lock(&natMu);
	int out;
	if (natFailFrom >= 0) {
		out = natFailed;
	} else {
		MPI_Request rs[2] = {*req, natFailReq};
		int n = natFailReq == MPI_REQUEST_NULL ? 1 : 2;
		MPI_Status st;
		int idx, flag;
		int rc = MPI_Testany(n, rs, &idx, &flag, &st);
		*req = rs[0];
		if (n == 2) natFailReq = rs[1];
		if (rc != MPI_SUCCESS) {
			out = rc;
		} else if (flag && idx == 1) {
			natFailFrom = st.MPI_SOURCE;
			MPI_Get_count(&st, MPI_CHAR, &natFailLen);
			out = natFailed;
		} else {
			out = flag;
		}
	}
	pthread_mutex_unlock(&natMu);
	return out;
}

// nat_wait completes req. On rank 0 it returns natFailed instead when another rank's failure
// report arrives first, and natCanceled when *cancel turns non-zero, leaving req pending.
//
// It tests the requests in a busy loop for natSpin seconds, then naps between tests, from
// 20 µs doubling up to 1 ms: a rank waiting for a slower one (a longer step, a checkpoint)
// leaves its core to the loader's workers instead of spinning on it as MPI_Wait does, and
// overshoots a wait by at most about its length so far (or 1 ms).
static const double natSpin = 5e-5;

static int nat_wait(MPI_Request *req, volatile int *cancel) {
	double spinUntil = nat_now() + natSpin;
	struct timespec nap = {0, 20000};
	for (;;) {
		int rc = nat_test(req);
		if (rc == 1) return MPI_SUCCESS;
		if (rc != 0) return rc;
		if (cancel != NULL && *cancel) return natCanceled;
		if (nat_now() > spinUntil) {
			nanosleep(&nap, NULL);
			if (nap.tv_nsec < 1000000) nap.tv_nsec *= 2;
		}
	}
}

// Every collective is the non-blocking call and nat_wait, so that rank 0 is never stuck in a
// collective that a failed rank will not join.
static int nat_barrier(void) {
	MPI_Request r;
	int rc = LOCKED(MPI_Ibarrier(natComm, &r));
	return rc != MPI_SUCCESS ? rc : nat_wait(&r, NULL);
}

static int nat_bcast(void *p, int n) {
	MPI_Request r;
	int rc = LOCKED(MPI_Ibcast(p, n, MPI_BYTE, 0, natComm, &r));
	return rc != MPI_SUCCESS ? rc : nat_wait(&r, NULL);
}

static int nat_allgather(const void *send, int n, MPI_Datatype t, void *recv) {
	MPI_Request r;
	int rc = LOCKED(MPI_Iallgather(send, n, t, recv, n, t, natComm, &r));
	return rc != MPI_SUCCESS ? rc : nat_wait(&r, NULL);
}

static int nat_allgather_float(const float *send, int n, float *recv) { return nat_allgather(send, n, MPI_FLOAT, recv); }
static int nat_allgather_int(const int *send, int *recv) { return nat_allgather(send, 1, MPI_INT, recv); }
static int nat_allgather_int64(const long long *send, int n, long long *recv) { return nat_allgather(send, n, MPI_LONG_LONG, recv); }
static int nat_allgather_bytes(const char *send, int n, char *recv) { return nat_allgather(send, n, MPI_BYTE, recv); }

// natCounts holds chunk counts and displacements the Go side filled in.
static int nat_reduce_scatter(const float *x, float *recv) {
	int *sc = natCounts, *sd = natCounts + natSize, *rc = natCounts + 2 * natSize, *rd = natCounts + 3 * natSize;
	MPI_Request r;
	int e = LOCKED(MPI_Ialltoallv(x, sc, sd, MPI_FLOAT, recv, rc, rd, MPI_FLOAT, natComm, &r));
	return e != MPI_SUCCESS ? e : nat_wait(&r, NULL);
}

static int nat_gather_chunks(float *x) {
	MPI_Request r;
	int e = LOCKED(MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, natCounts, natCounts + natSize, MPI_FLOAT, natComm, &r));
	return e != MPI_SUCCESS ? e : nat_wait(&r, NULL);
}

// The library's own blocking all-reduce, as an MPI program would call it: the reference the
// tests and the benchmark hold the ordered sum to.
static int nat_allreduce_unordered(float *x, int n) {
	return LOCKED(MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_FLOAT, MPI_SUM, natComm));
}

// A vote is a logical or over the ranks on a communicator of its own, in C memory, so that
// a vote left pending by a cancelled wait keeps valid buffers until it is drained.
typedef struct {
	MPI_Comm comm;
	MPI_Request req;
	int send, recv;
	volatile int cancel;
	long long started;
} natVote;

static natVote *nat_vote_new(int *rc) {
	natVote *v = calloc(1, sizeof *v);
	v->req = MPI_REQUEST_NULL;
	pthread_mutex_lock(&natMu);
	*rc = MPI_Comm_dup(natComm, &v->comm);
	if (*rc == MPI_SUCCESS) MPI_Comm_set_errhandler(v->comm, MPI_ERRORS_RETURN);
	pthread_mutex_unlock(&natMu);
	return v;
}

static int nat_vote_start(natVote *v, int yes) {
	v->send = yes;
	int rc = LOCKED(MPI_Iallreduce(&v->send, &v->recv, 1, MPI_INT, MPI_LOR, v->comm, &v->req));
	if (rc == MPI_SUCCESS) v->started++;
	return rc;
}

// nat_vote runs one vote; natCanceled leaves it pending (v->req), to be drained.
static int nat_vote(natVote *v, int yes) {
	int rc = nat_vote_start(v, yes);
	return rc != MPI_SUCCESS ? rc : nat_wait(&v->req, &v->cancel);
}

// nat_vote_drain completes v's pending vote, takes part in more votes (no) that other ranks
// are waiting in, and frees v.
static int nat_vote_drain(natVote *v, long long more) {
	int rc = MPI_SUCCESS;
	if (v->req != MPI_REQUEST_NULL) rc = nat_wait(&v->req, NULL);
	for (long long i = 0; rc == MPI_SUCCESS && i < more; i++) {
		rc = nat_vote_start(v, 0);
		if (rc == MPI_SUCCESS) rc = nat_wait(&v->req, NULL);
	}
	if (rc == MPI_SUCCESS) rc = LOCKED(MPI_Comm_free(&v->comm));
	if (rc == MPI_SUCCESS) free(v);
	return rc;
}

// nat_fail reports msg to rank 0, keeps the library progressing while rank 0 records it and
// ends the job, and ends the job itself after grace seconds.
static void nat_fail(const char *msg, int n, int code, double grace) {
	MPI_Request r;
	double end = nat_now() + grace;
	if (LOCKED(MPI_Isend(msg, n, MPI_CHAR, 0, natTagFail, natComm, &r)) == MPI_SUCCESS) {
		int done = 0;
		while (nat_now() < end) {
			if (!done) LOCKED(MPI_Test(&r, &done, MPI_STATUS_IGNORE));
			usleep(10000);
		}
	}
	MPI_Abort(MPI_COMM_WORLD, code);
}

static int nat_finalize(void) {
	pthread_mutex_lock(&natMu);
	int rc;
	if (natFailReq != MPI_REQUEST_NULL) {
		MPI_Status st;
		int cancelled = 0;
		MPI_Cancel(&natFailReq);
		MPI_Wait(&natFailReq, &st);
		MPI_Test_cancelled(&st, &cancelled);
		if (!cancelled) {
			natFailFrom = st.MPI_SOURCE;
			MPI_Get_count(&st, MPI_CHAR, &natFailLen);
			pthread_mutex_unlock(&natMu);
			return natFailed;
		}
	}
	MPI_Comm_free(&natComm);
	rc = MPI_Finalize();
	pthread_mutex_unlock(&natMu);
	return rc;
}

static int *nat_counts(void) { return natCounts; }
static int nat_rank(void) { return natRank; }
static int nat_fail_from(void) { return natFailFrom; }
static char *nat_fail_msg(int *n) { *n = natFailLen; return natFailBuf; }

static void nat_error_string(int code, char *s, int *n) {
	if (MPI_Error_string(code, s, n) != MPI_SUCCESS) *n = 0;
}

static void nat_library_version(char *s, int *n) {
	if (MPI_Get_library_version(s, n) != MPI_SUCCESS) *n = 0;
}
*/
import "C"

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"unsafe"
)

// Backend names the MPI library of this build.
const Backend = "Open MPI (cgo)"

// Compiled reports whether this build has MPI: runs of several processes.
const Compiled = true

// Version names the MPI library this build links, as the library says it ("Open MPI v4.1.4").
func Version() string {
	var buf [C.MPI_MAX_LIBRARY_VERSION_STRING]C.char
	var n C.int
	C.nat_library_version(&buf[0], &n)
	v, _, _ := strings.Cut(C.GoStringN(&buf[0], n), ",")
	return strings.TrimSpace(v)
}

// openMPI is the world of an Open MPI job, through natssl's own duplicate of
// MPI_COMM_WORLD with MPI_ERRORS_RETURN (errors come back as Error, not as an abort),
// initialised at MPI_THREAD_SERIALIZED (the package doc says why): a lock in C (natMu) keeps
// calls into MPI from overlapping, whichever OS threads Go runs them on, and World's lock
// keeps one communicator's collectives in one order.
type openMPI struct {
	size   int
	counts []C.int // C memory (natCounts): it must outlive a collective left pending by a failure
	keep   []any   // the buffers of collectives a failure left pending
}

var _ comm = (*openMPI)(nil)

// start initialises MPI (launched processes only) and checks that MPI sees the job the
// launcher describes: an Open MPI that cannot reach the launcher's process manager (srun
// without PMI support) would start every process as a world of one.
func start(l launch) (comm, place, error) {
	var rank, size, lrank, lsize, provided C.int
	if rc := C.nat_start(&rank, &size, &lrank, &lsize, &provided); rc != C.MPI_SUCCESS {
		return nil, place{}, mpiError("init", rc)
	}
	if provided < C.MPI_THREAD_SERIALIZED {
		return nil, place{}, fmt.Errorf("mpi: init: the MPI library offers thread level %d, natssl needs MPI_THREAD_SERIALIZED", int(provided))
	}
	if l.many() && size == 1 {
		return nil, place{}, fmt.Errorf("mpi: init: %s, but MPI sees a world of one: this Open MPI cannot reach the launcher's process manager (under Slurm: srun --mpi=pmix, or mpirun inside the allocation)", l)
	}
	if l.size > 0 && int(size) != l.size {
		return nil, place{}, fmt.Errorf("mpi: init: %s, but MPI sees %d processes", l, int(size))
	}
	c := &openMPI{size: int(size), counts: unsafe.Slice(C.nat_counts(), 4*int(size))}
	return c, place{rank: int(rank), size: int(size), localRank: int(lrank), localSize: int(lsize)}, nil
}

// done turns a return code into an error; a failure report becomes a RankError, and the
// buffers of the collective it leaves pending are kept from the garbage collector.
func (c *openMPI) done(op string, rc C.int, keep ...any) error {
	switch rc {
	case C.MPI_SUCCESS:
		return nil
	case C.natFailed:
		c.keep = append(c.keep, keep...)
		var n C.int
		msg := C.nat_fail_msg(&n)
		return &RankError{Rank: int(C.nat_fail_from()), Msg: C.GoStringN(msg, n)}
	}
	return mpiError(op, rc)
}

func mpiError(op string, rc C.int) error {
	var buf [C.MPI_MAX_ERROR_STRING]C.char
	var n C.int
	C.nat_error_string(rc, &buf[0], &n)
	return &Error{Op: op, Code: int(rc), Msg: C.GoStringN(&buf[0], n)}
}

func (c *openMPI) barrier() error { return c.done("barrier", C.nat_barrier()) }

func (c *openMPI) bcast(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	return c.done("bcast", C.nat_bcast(unsafe.Pointer(&p[0]), C.int(len(p))), p)
}

func (c *openMPI) allgather(send, recv []float32) error {
	if len(send) == 0 {
		return nil
	}
	return c.done("allgather", C.nat_allgather_float((*C.float)(&send[0]), C.int(len(send)), (*C.float)(&recv[0])), send, recv)
}

func (c *openMPI) allgatherInt64(send, recv []int64) error {
	if len(send) == 0 {
		return nil
	}
	return c.done("allgather", C.nat_allgather_int64((*C.longlong)(unsafe.Pointer(&send[0])), C.int(len(send)), (*C.longlong)(unsafe.Pointer(&recv[0]))), send, recv)
}

func (c *openMPI) allgatherBytes(send, recv []byte) error {
	if len(send) == 0 {
		return nil
	}
	return c.done("allgather", C.nat_allgather_bytes((*C.char)(unsafe.Pointer(&send[0])), C.int(len(send)), (*C.char)(unsafe.Pointer(&recv[0]))), send, recv)
}

func (c *openMPI) allgatherInt32(send int32, recv []int32) error {
	b := make([]C.int, 1+len(recv)) // what is sent, then what is received
	b[0] = C.int(send)
	err := c.done("allgather", C.nat_allgather_int(&b[0], &b[1]), b)
	for i, v := range b[1:] {
		recv[i] = int32(v)
	}
	return err
}

// setCounts fills natCounts for a bucket of n floats: rank j's chunk and where it lies
// (send side and all-gather), and this rank's chunk from every rank (receive side).
func (c *openMPI) setCounts(n, rank int) {
	sc, sd, rc, rd := c.counts[:c.size], c.counts[c.size:2*c.size], c.counts[2*c.size:3*c.size], c.counts[3*c.size:]
	lo, hi := chunkRange(n, c.size, rank)
	for j := range c.size {
		jlo, jhi := chunkRange(n, c.size, j)
		sc[j], sd[j] = C.int(jhi-jlo), C.int(jlo)
		rc[j], rd[j] = C.int(hi-lo), C.int(j*(hi-lo))
	}
}

func (c *openMPI) reduceScatter(x, recv []float32) error {
	c.setCounts(len(x), int(C.nat_rank()))
	var r *C.float
	if len(recv) > 0 {
		r = (*C.float)(&recv[0])
	}
	return c.done("alltoallv", C.nat_reduce_scatter((*C.float)(&x[0]), r), x, recv)
}

func (c *openMPI) gatherChunks(x []float32) error {
	c.setCounts(len(x), int(C.nat_rank()))
	return c.done("allgatherv", C.nat_gather_chunks((*C.float)(&x[0])), x)
}

func (c *openMPI) allreduceUnordered(x []float32) error {
	if len(x) == 0 {
		return nil
	}
	return c.done("allreduce", C.nat_allreduce_unordered((*C.float)(&x[0]), C.int(len(x))), x)
}

func (c *openMPI) fail(code int, msg string) {
	s := C.CString(msg) // C memory: the send may still be in flight when the job ends
	C.nat_fail(s, C.int(len(msg)), C.int(code), C.double(failGrace.Seconds()))
	os.Exit(code) // MPI_Abort does not return; if it did, this process still ends
}

func (c *openMPI) abort(code int) {
	C.MPI_Abort(C.MPI_COMM_WORLD, C.int(code))
	os.Exit(code)
}

func (c *openMPI) finalize() error { return c.done("finalize", C.nat_finalize()) }

func (c *openMPI) newVote() (voter, error) {
	var rc C.int
	v := C.nat_vote_new(&rc)
	if rc != C.MPI_SUCCESS {
		return nil, mpiError("comm_dup", rc)
	}
	return &openVote{c: c, v: v}, nil
}

// openVote is a vote's communicator and buffers, in C memory (natVote).
type openVote struct {
	c *openMPI
	v *C.natVote
}

func (v *openVote) vote(ctx context.Context, yes bool) (bool, error) {
	b := C.int(0)
	if yes {
		b = 1
	}
	cancel := (*int32)(unsafe.Pointer(&v.v.cancel))
	stop := context.AfterFunc(ctx, func() { atomic.StoreInt32(cancel, 1) })
	defer stop()
	switch rc := C.nat_vote(v.v, b); rc {
	case C.MPI_SUCCESS:
		return v.v.recv != 0, nil
	case C.natCanceled:
		return false, context.Cause(ctx)
	default:
		return false, v.c.done("vote", rc)
	}
}

func (v *openVote) started() int64 { return int64(v.v.started) }

func (v *openVote) drain(more int64) error {
	return v.c.done("vote", C.nat_vote_drain(v.v, C.longlong(more)))
}
