//go:build !mpi || !cgo

package mpi

import "fmt"

// Backend names the MPI library of this build.
const Backend = "none (built without MPI)"

// Compiled reports whether this build has MPI: runs of several processes.
const Compiled = false

// start refuses a job of several processes: without MPI each would train a model of its own.
// A launcher's single process (mpirun -np 1) is a world of one.
func start(l launch) (comm, place, error) {
	if l.many() {
		return nil, place{}, fmt.Errorf("mpi: %s, but %w: rebuild it where pkg-config finds ompi-c (Debian: libopenmpi-dev), or run a single process", l, ErrNoMPI)
	}
	return solo{}, place{size: 1, localSize: 1}, nil
}

// Version names the MPI library this build links: none.
func Version() string { return "built without MPI" }
