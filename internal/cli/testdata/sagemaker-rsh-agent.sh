#!/bin/sh
# A remote shell for mpirun (--mca plm_rsh_agent) that runs the command here, on a SageMaker
# host simulated by a folder: $1 is the host, the rest the command line mpirun would run
# there over ssh. The host's /opt/ml is $SIM_ROOT/<host> (SAGEMAKER_BASE_DIR), and it gets an
# Open MPI session directory of its own (two daemons sharing one race to create it).
host=$1
shift
dir=${TMPDIR:-/tmp}/mpi-host-$host
mkdir -p "$dir" || exit 1
SAGEMAKER_BASE_DIR=$SIM_ROOT/$host OMPI_MCA_orte_tmpdir_base=$dir exec sh -c "$*"
