package mpi

import (
	"fmt"
	"strconv"
	"time"
)

// launch is what the environment says about how this process was started.
type launch struct {
	by   string // the launcher, in words ("mpirun (Open MPI)", "srun", ...)
	key  string // the variable that says so
	val  string // its value
	size int    // processes in the job; 0 when the launcher does not say
	rank int    // this process's rank when the launcher says it without a size; else 0
	// killGrace is how long the launcher waits between SIGTERM and SIGKILL when it ends the
	// job; 0 when it is not known.
	killGrace time.Duration
}

// launched reports whether a launcher started this process (as opposed to a plain exec).
func (l launch) launched() bool { return l.key != "" }

// many reports whether the launcher started more than one process.
func (l launch) many() bool { return l.size > 1 || l.rank > 0 }

// String says who started how many processes and which variable tells, for error messages.
func (l launch) String() string {
	switch {
	case !l.launched():
		return "no MPI launcher"
	case l.size == 1:
		return fmt.Sprintf("%s started 1 process (%s=%s)", l.by, l.key, l.val)
	case l.size > 1:
		return fmt.Sprintf("%s started %d processes (%s=%s)", l.by, l.size, l.key, l.val)
	}
	return fmt.Sprintf("%s started this process as rank %d (%s=%s)", l.by, l.rank, l.key, l.val)
}

// launchers are the variables MPI launchers put in their processes' environment, most telling
// first. Open MPI's mpirun (and prterun) set OMPI_COMM_WORLD_SIZE; MPICH's and Intel MPI's
// Hydra and Slurm's PMI-2 set PMI_SIZE; MVAPICH sets MV2_COMM_WORLD_SIZE; srun sets
// SLURM_STEP_NUM_TASKS in every task of a step (SLURM_NTASKS alone is also set inside an
// sbatch script, whose single process is no MPI job, so it is not read).
var launchers = []struct{ key, by string }{
	{"OMPI_COMM_WORLD_SIZE", "mpirun (Open MPI)"},
	{"PMI_SIZE", "an MPI launcher (PMI)"},
	{"MV2_COMM_WORLD_SIZE", "mpirun (MVAPICH)"},
	{"SLURM_STEP_NUM_TASKS", "srun"},
}

// detect reads the launcher variables through getenv. A PMIx launcher (srun --mpi=pmix,
// prterun) that sets none of them still sets PMIX_RANK: a rank above 0 shows a job of
// several processes even without a size.
func detect(getenv func(string) (string, bool)) (launch, error) {
	for _, v := range launchers {
		s, ok := getenv(v.key)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return launch{}, fmt.Errorf("mpi: environment %s=%q: not a process count", v.key, s)
		}
		l := launch{by: v.by, key: v.key, val: s, size: n}
		if v.key == "OMPI_COMM_WORLD_SIZE" {
			l.killGrace = ompiKillGrace(getenv)
		}
		return l, nil
	}
	if s, ok := getenv("PMIX_RANK"); ok {
		r, err := strconv.Atoi(s)
		if err != nil || r < 0 {
			return launch{}, fmt.Errorf("mpi: environment PMIX_RANK=%q: not a rank", s)
		}
		return launch{by: "a PMIx launcher", key: "PMIX_RANK", val: s, rank: r}, nil
	}
	return launch{}, nil
}

// ompiKillGrace is Open MPI's odls_base_sigkill_timeout: when mpirun ends a job (a rank died,
// or mpirun itself got SIGTERM or SIGINT) it sends the ranks SIGCONT, SIGTERM that many
// seconds later, and SIGKILL as many seconds after that. mpirun passes its --mca settings to
// the ranks as OMPI_MCA_ variables; the default is 1 second.
func ompiKillGrace(getenv func(string) (string, bool)) time.Duration {
	if s, ok := getenv("OMPI_MCA_odls_base_sigkill_timeout"); ok {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	return time.Second
}
