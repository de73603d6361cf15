#!/usr/bin/env bash
# The cost of spreading a step over processes: the same model and global batch trained as
# 2 ranks of 1 CPU replica each (mpirun -np 2) against 1 process of 2 CPU replicas, one after
# the other in one sitting, each the median step after warm-up on random images:
#
#   scripts/bench-mpi-train.sh [STEPS [WARMUP]]        (default 7 and 2)
#
# Prints, per model: both steps, their ratio (2 ranks / 1 process; the target is at most 1.15),
# and the ranks' collectives (the embeddings' all-gather, the gradients' and batch-norm
# statistics' ordered sums) with their share of the step (comm_s: waiting for the slower rank
# included). Needs bin/natssl built with MPI (make build where pkg-config finds ompi-c) and
# mpirun (openmpi-bin).
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-7}
warmup=${2:-2}
[ -x bin/natssl ] || make build
[[ "$(bin/natssl version)" == *'mpi:     Open MPI'* ]] || { echo "bench-mpi: bin/natssl was built without MPI (make build with libopenmpi-dev)" >&2; exit 1; }
root=()
[ "$(id -u)" = 0 ] && root=(--allow-run-as-root)
bin/natssl version | sed -n '1p;/mpi:/p'
echo "| model | 1 process × 2 replicas | 2 ranks × 1 replica | ratio | collectives | share of the step |"
echo "|---|---|---|---|---|---|"
# model, width, image side, global batch (images), projection head hidden, dim
while read -r model w size batch hidden dim; do
	sets=(--set "model.backbone=$model" --set "model.width=$w" --set "data.image_size=$size"
		--set "data.batch_size=$batch" --set "model.proj_hidden=$hidden" --set "model.proj_dim=$dim"
		--set train.optimizer=adamw --set train.temperature=0.5)
	one=$(bin/natssl bench train --replicas 2 --steps "$steps" --warmup "$warmup" --json "${sets[@]}" </dev/null | tail -1)
	two=$(mpirun "${root[@]}" --bind-to none -np 2 bin/natssl bench train --replicas 1 --steps "$steps" --warmup "$warmup" --json "${sets[@]}" </dev/null | tail -1)
	/usr/bin/python3 - "$model w=$w, $size px, batch $batch" "$one" "$two" <<'PY'
import json, sys
label, one, two = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
assert two["world_size"] == 2 and one["world_size"] == 1, (one, two)
print(f"| {label} | {one['step_s']:.3f} s | {two['step_s']:.3f} s | {two['step_s'] / one['step_s']:.2f} "
      f"| {two['comm_s']:.3f} s | {100 * two['comm_s'] / two['step_s']:.0f}% |")
PY
done <<'RUNS'
convnet-small 32 32 256 256 128
resnet18-cifar 64 32 64 512 128
RUNS
