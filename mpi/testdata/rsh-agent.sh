#!/bin/sh
# A remote shell for mpirun (--mca plm_rsh_agent) that runs the command here: several machines
# simulated on one. $1 is the host, the rest the command line mpirun would run there over ssh.
# Each simulated host gets a session directory of its own: two Open MPI daemons sharing one
# race to create it.
host=$1
shift
dir=${TMPDIR:-/tmp}/mpi-host-$host
mkdir -p "$dir" || exit 1
OMPI_MCA_orte_tmpdir_base=$dir exec sh -c "$*"
