#!/usr/bin/env bash
# The all-reduce benchmark: the mpi package's ordered sum (Reducer) against Open MPI's own
# MPI_Allreduce on resnet18-cifar's gradients (11.2M floats), with real ranks under mpirun:
#
#   scripts/bench-mpi.sh [RANKS [ITERATIONS [COUNT]]]      (default 2, 20 and 5)
#
# Every rank runs the same fixed number of iterations (a collective needs all of them); rank
# 0 prints the Go benchmark lines, COUNT runs of each. Then the CPU a rank spends waiting 2 s
# for a late peer. Needs libopenmpi-dev and openmpi-bin.
set -euo pipefail
cd "$(dirname "$0")/.."
ranks=${1:-2}
iters=${2:-20}
count=${3:-5}
pkg-config --exists ompi-c || { echo "bench-mpi: no Open MPI (Debian: libopenmpi-dev openmpi-bin)" >&2; exit 1; }
tags="mpi$(pkg-config --exists openblas && echo ' openblas' || true)"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go test -tags "$tags" -c -o "$out/mpi.test" ./mpi
root=()
[ "$(id -u)" = 0 ] && root=(--allow-run-as-root)
mpirun "${root[@]}" --oversubscribe --bind-to none -np "$ranks" sh -c '
  [ "$OMPI_COMM_WORLD_RANK" = 0 ] || exec >/dev/null
  exec "$0" -test.run "^$" -test.bench "^BenchmarkSum$" -test.benchtime "$1" -test.count "$2"
' "$out/mpi.test" "${iters}x" "$count"
MPITEST_CASE=wait mpirun "${root[@]}" --oversubscribe --bind-to none -np 2 "$out/mpi.test" | grep waited
