#!/usr/bin/env bash
# The training-step benchmark: natssl against the PyTorch peer in one sitting, model by model,
# on the same model, loss (NT-Xent, temperature 0.5), optimizer (AdamW), batch and thread count
# (natssl with 2 CPU replicas of one BLAS thread each, PyTorch with 2 threads), one process
# after the other, each timing the median step after warm-up on random images:
#
#   scripts/bench-train.sh [STEPS [WARMUP]]        (default 5 and 2)
#
# Prints the table: model, natssl step, PyTorch step, their ratio, natssl's GFLOP/s (multiply-
# adds ×2 of the direct convolutions and linear layers, forward and backward, per second) beside
# the sgemm GFLOP/s of the same BLAS measured in the same run, and the peak RSS of each process.
# Needs bin/natssl (make build) and Debian's python3-torch (/usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-5}
warmup=${2:-2}
[ -x bin/natssl ] || make build
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
bin/natssl version | sed -n 1p
/usr/bin/python3 - "$out" "$steps" "$warmup" <<'PY'
import json, os, subprocess, sys

out, steps, warmup = sys.argv[1], sys.argv[2], sys.argv[3]
threads = 2
# model, width, image side, batch (images; twice as many views), projection head hidden, dim
runs = [
    ("convnet-small", 32, 32, 256, 256, 128),
    ("resnet18-cifar", 64, 32, 64, 512, 128),
    ("resnet18-cifar", 64, 96, 32, 512, 128),
]


def run(name, argv):
    """Runs argv to the end; returns its last stdout line as JSON and its peak RSS in bytes."""
    print(f"bench-train: {name}...", file=sys.stderr, flush=True)
    with open(os.path.join(out, "log"), "a") as log:
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, text=True)
        text = p.stdout.read()
        _, status, usage = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench-train: {name} failed:\n{text}{open(os.path.join(out, 'log')).read()}")
    return json.loads(text.strip().splitlines()[-1]), usage.ru_maxrss * 1024


rows = []
for model, w, size, batch, hidden, dim in runs:
    label = f"{model} w={w}, {size} px, batch {batch}, head {8 * w}-{hidden}-{dim}"
    n, n_rss = run(f"natssl {label}", [
        "bin/natssl", "bench", "train", "--replicas", str(threads), "--steps", steps, "--warmup", warmup, "--json",
        "--set", f"model.backbone={model}", "--set", f"model.width={w}", "--set", f"data.image_size={size}",
        "--set", f"data.batch_size={batch}", "--set", f"model.proj_hidden={hidden}", "--set", f"model.proj_dim={dim}",
        "--set", "train.optimizer=adamw", "--set", "train.temperature=0.5"])
    p, p_rss = run(f"PyTorch {label}", [
        "/usr/bin/python3", "trainer/testdata/pytorch_peer.py", "--model", model, "--width", str(w),
        "--size", str(size), "--batch", str(batch), "--proj-hidden", str(hidden), "--proj-dim", str(dim),
        "--threads", str(threads), "--steps", steps, "--warmup", warmup])
    rows.append((label, n, n_rss, p, p_rss))

print(f"{threads} replicas (natssl) and {threads} threads (PyTorch {rows[0][3]['torch']}), median of {steps} steps after {warmup}")
print("| model | natssl step | PyTorch step | ratio | natssl GFLOP/s (same-run sgemm) | peak RSS natssl | peak RSS PyTorch |")
print("|---|---|---|---|---|---|---|")
for label, n, n_rss, p, p_rss in rows:
    print(f"| {label} | {n['step_s']:.3f} s | {p['step_s']:.3f} s | {n['step_s'] / p['step_s']:.2f}× "
          f"| {n['gflops']:.0f} ({n['sgemm_gflops']:.0f}) = {100 * n['gflops'] / n['sgemm_gflops']:.0f}% "
          f"| {n_rss / 2**20:.0f} MiB | {p_rss / 2**20:.0f} MiB |")
PY
