// Package mpi lets one natssl run span several processes and machines over MPI: the World of
// a job's processes (ranks) and the collectives a data-parallel trainer needs — Bcast of
// rank 0's bytes (a checkpoint, a config), Agree (same config hash everywhere), Allgather of
// float32 (NT-Xent's embeddings) and a bucketed float32 sum (gradients) whose bits do not
// depend on the MPI library — plus ending the whole job when one rank cannot go on. What to
// gather and sum, which rank writes the tracker and the checkpoints, and how jobs are
// launched (mpirun, srun, SageMaker) are left to the trainer and the orchestration.
//
// # Builds
//
// With the mpi build tag and cgo, the package calls Open MPI (Debian libopenmpi-dev,
// pkg-config ompi-c); make adds the tag when pkg-config finds it. Without, Backend is "none"
// and every process is a world of one; such a build started by a launcher as several
// processes refuses in Init (an error wrapping ErrNoMPI, one line) rather than training as
// many independent models. openmpi.go and single.go are the two builds' files; a test holds
// them to one API.
//
// Init reads the environment to tell whether a launcher started the process
// (OMPI_COMM_WORLD_SIZE, PMI_SIZE, MV2_COMM_WORLD_SIZE, srun's SLURM_STEP_NUM_TASKS,
// PMIX_RANK) and initialises MPI only then: a plain `natssl train` of an MPI build is a world
// of one without MPI, identical to the build without. An Open MPI that sees a world of one
// where the launcher says several (srun without a PMI plugin Open MPI can use) is refused too.
//
// # Threads
//
// MPI is initialised at MPI_THREAD_SERIALIZED: a lock in C is held around every call into MPI
// (never across a wait), and World's methods take a lock of their own, so that any goroutine
// may call them, one at a time, and one communicator's collectives keep one order. A Vote has
// a communicator of its own: the loader's goroutine asks "has the epoch another batch?" of
// every rank while the training goroutine is in a step's sums, in whatever order the two
// meet on each rank, and neither waits for the other (tested); a vote can be abandoned when
// its context ends (the loader closing), and Finalize completes what was left pending.
//
// Go moves goroutines between OS threads, so calls come from several threads (tested: twenty calls from twenty threads), which SERIALIZED allows and
// FUNNELED (calls only from the thread that initialised MPI) would not without a locked
// goroutine serving every call over a channel; MULTIPLE would add Open MPI's internal
// locking for concurrency natssl has no use for. Abort alone skips the lock, so that a
// goroutine can end the job while another is stuck in a collective (tested). The
// World's collectives take no context: MPI cannot cancel a collective that others have joined; a
// job that must stop ends through Abort. Open MPI leaves the Go runtime's signal handlers in
// place (its opal_signal handlers go only where none is installed): a nil dereference in a
// rank is still a Go panic (tested).
//
// # Waiting
//
// MPI_Wait spins: a rank waiting for a slower one (a longer step, rank 0 writing a checkpoint)
// keeps a core busy doing nothing, which on a small machine is a core taken from the loader's
// workers and the other ranks. natssl's collectives are MPI's non-blocking ones, tested in a
// busy loop for 50 µs and then between naps growing from 20 µs to 1 ms. Here a rank waiting
// 2 s for a late peer used 0.03 s of CPU instead of 0.5–1.8 s, and on the loaded 2-core
// machine the sums got faster, not slower (scripts/bench-mpi.sh measures both).
//
// # Summing in a fixed order
//
// Besides, AllgatherInt64 and AllgatherBytes (lengths may differ) carry a step's small
// agreements and a checkpoint's loader positions; Version names the library.
//
// Reducer.Sum gives every rank, bit for bit, the sum of the ranks' buffers added in rank order,
// ((r0 + r1) + r2) + ..., which is how the trainer adds its replicas' gradients in one
// process: with one replica per rank, N ranks reproduce one process with N replicas exactly.
// MPI_Allreduce promises no order, and Open MPI's changes with the algorithm it picks for a
// size and a rank count: here, with 3 ranks, its sums differed from rank order on 15% of a
// 13,420-float buffer and on none of a 1M-float one; with 4 ranks, on 24% of the 1M-float
// one (TestSumUnderMpirun logs the first two). So Reducer cuts each bucket into one chunk
// per rank, moves every rank's contribution to a chunk to its owner with MPI_Alltoallv
// (bytes, no arithmetic), adds them there in rank order in Go, and sends the sums to
// everyone with MPI_Allgatherv: the traffic of a ring all-reduce, 2·(N−1)/N of the buffer
// out and in per rank. With several replicas per rank, the trainer adds each rank's replicas
// first, so the sum is (r0a + r0b) + (r1a + r1b): deterministic for a given layout, though
// not the bits of one process with all the replicas. On two ranks here, the ordered sum of
// resnet18-cifar's 11.2M gradients took no longer than MPI_Allreduce (BenchmarkSum, run by
// scripts/bench-mpi.sh).
//
// # Faults
//
// A rank that errors or dies must end the job within seconds. What Open MPI 4.1 does:
//   - mpirun aborts the job when a rank exits non-zero, exits 0 without MPI_Finalize, or is
//     killed (kill -9 mid-collective included): the other ranks get SIGCONT, SIGTERM a second
//     later and SIGKILL a second after that (--mca odls_base_sigkill_timeout N makes the
//     steps N seconds); mpirun exits non-zero. A SIGTERM or SIGINT to mpirun itself goes the
//     same way; SIGUSR1 and SIGUSR2 are forwarded to the ranks.
//   - The survivors of a dead rank get no error: they wait in the collective until killed,
//     with MPI_ERRORS_RETURN too, over shared memory and over TCP alike (Open MPI 4.1 has no
//     ULFM). So with `--mca orte_abort_on_non_zero_status 0` a dead rank hangs the job: never
//     set it. Under Slurm, srun leaves the other tasks running unless told otherwise: use
//     `srun --kill-on-bad-exit=1` (not tried here: no Slurm on this machine).
//
// natssl's part: MPI errors come back as Error (MPI_ERRORS_RETURN on natssl's own
// communicator) and Abort(code) ends the job. Fail(code, err) on a rank other than 0 first
// sends err's text to rank 0: every collective waits on its operation and on that message
// together (non-blocking collectives and MPI_Testany), so rank 0 returns a RankError from
// the collective the failed rank will never join, can record the rank's error, and calls
// Abort; if it has not within FailGrace, the failed rank aborts the job itself.
//
// # Running it
//
// As root, mpirun needs --allow-run-as-root (or OMPI_ALLOW_RUN_AS_ROOT=1 and
// OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1); more ranks than cores need --oversubscribe. Give natssl
// ranks --bind-to none (or --map-by slot:PE=k for k cores each): a rank runs threads of its
// own (replicas, loader workers) that Open MPI's default binding squeezes onto one core
// (even with -np 1). Shared memory
// (the vader BTL with CMA single copy) works in this container as it is; no --mca btl
// setting is needed. Several machines can be simulated on one: --host a:2,b:1 with
// --mca plm_rsh_agent naming a script that runs the command line it is given locally
// (testdata/rsh-agent.sh, which gives each simulated host its own session directory; two
// daemons sharing one race to create it).
//
//	mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2 natssl train ...
package mpi
