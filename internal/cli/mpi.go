package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/natssl/natssl/mpi"
	"github.com/natssl/natssl/trainer"
)

// joinJob is where a command that may be started by mpirun or srun joins the job, before any
// work: a natssl built without MPI that finds itself one of several processes refuses here
// with one line. A command that runs in one process only (alone) refuses to be one of several.
func joinJob(command string, alone bool) (*mpi.World, error) {
	w, err := mpi.Init()
	if err != nil {
		return nil, err
	}
	if alone && w.Size() > 1 {
		return nil, usageErr(fmt.Errorf("%s runs in one process, but %s started it as rank %d of %d: start it without the launcher", command, w.Launcher(), w.Rank(), w.Size()))
	}
	return w, nil
}

// leaveJob ends this process's part of the job and returns err. A rank that failed ends the
// whole job (mpi.World.Fail: rank 0 hears of it and records it first); the others, and a rank
// stopped with the others by a signal, leave it together (Finalize). A process no launcher
// started has nothing to leave.
func leaveJob(w *mpi.World, err error, stderr io.Writer) error {
	if w == nil || w.Launcher() == "" {
		return err
	}
	if w.Size() > 1 && err != nil && !errors.Is(err, trainer.ErrStopped) {
		fmt.Fprintf(stderr, "natssl: rank %d of %d: %v\n", w.Rank(), w.Size(), err)
		w.Fail(exitCode(err), err)
	}
	if ferr := w.Finalize(); ferr != nil {
		return errors.Join(err, ferr)
	}
	return err
}
