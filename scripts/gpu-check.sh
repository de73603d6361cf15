#!/usr/bin/env bash
# The GPU checks of natssl's CUDA backend, in one run of under 8 minutes on a machine with an
# NVIDIA GPU, a CUDA 12 or 13 driver, and python3 with PyTorch and pip's nvidia-* wheels
# (whose cuBLAS and NVRTC natssl loads), without Go or a network: it runs what
# `make gpu-bundle` built here into .gpu/ (carry that folder).
#
#   scripts/gpu-check.sh            (from the repository root; OUT=DIR keeps the results)
#
# (a) the GPU tests: trainer.test's TestGPU… (every op forward and backward against the CPU
#     op, within 1e-4; 20 training steps against the CPU's, loss within 1e-3 at every step,
#     for SimCLR, BYOL and MoCo v2; two replicas on cuda:0 against one; checkpoints GPU→CPU
#     and CPU→GPU, exact resume on the GPU; SIGTERM writes a checkpoint) and cuda.test's
#     (memory, pinned copies, cuBLAS, the kernel cache);
# (b) natssl bench train on cuda:0 beside the PyTorch peer (trainer/testdata/pytorch_peer.py)
#     on the same GPU: resnet50 at 224 px (batch 256) and resnet18-cifar at 32 px (batch
#     512), fp32 and tf32, AdamW, and the ratio of their step times;
# (c) natssl bench loader at 224 px on every core, against the GPU's resnet50 images/s;
# (d) $OUT/gpu-check.json with every figure and result, the logs beside it, and the figures
#     printed at the end. On a machine without a GPU each part says "no device".
set -uo pipefail
cd "$(dirname "$0")/.."
bundle=${BUNDLE:-.gpu}
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
elapsed() { echo $(($(date +%s) - start)); }
log() { echo "gpu-check [$(elapsed)s]: $*" >&2; }
budget=${BUDGET_S:-450} # after this, the remaining benchmarks are skipped

if [ ! -f "$bundle/trainer.test.xz" ]; then
  echo "gpu-check: no bundle in $bundle: run make gpu-bundle on a machine with Go first" >&2
  exit 2
fi
unxz() { # FILE.xz DEST
  if command -v xz >/dev/null; then
    xz -dc "$1" >"$2"
  else
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"
  fi
  chmod +x "$2"
}
mkdir -p "$work/bin"
for b in natssl natssl-pure trainer.test cuda.test; do
  unxz "$bundle/$b.xz" "$work/bin/$b"
done
# natssl with libjpeg-turbo (carried), or the pure-Go build where that does not run here.
natssl=("env" "LD_LIBRARY_PATH=$PWD/$bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$work/bin/natssl")
if ! "${natssl[@]}" version >/dev/null 2>"$out/natssl-turbo.err"; then
  log "natssl with libjpeg-turbo does not run here ($(head -c 200 "$out/natssl-turbo.err")); the pure-Go build instead"
  natssl=("$work/bin/natssl-pure")
fi

log "the machine"
{
  cat "$bundle/BUILD"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
  else
    echo "nvidia-smi: none"
  fi
  echo "cores $(nproc)"
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1 | tail -n 1
  "${natssl[@]}" version 2>&1
} | tee "$out/machine.txt" >&2

# (a) the GPU tests, each binary from its package's folder (its testdata).
run_tests() { # NAME PKGDIR SECONDS
  log "$1: go test binary, TestGPU…"
  (cd "$2" && timeout "$3" "$work/bin/$1" -test.run '^TestGPU' -test.v -test.timeout "$3s") >"$out/$1.log" 2>&1
  echo $? >"$out/$1.rc"
}
run_tests cuda.test trainer/cuda 120
run_tests trainer.test trainer 360

# (b) bench train, natssl and the PyTorch peer, model by model and precision by precision.
# model backbone, image side, batch (images; twice as many views)
runs=("resnet50 224 256" "resnet18-cifar 32 512")
for r in "${runs[@]}"; do
  read -r model size batch <<<"$r"
  for prec in fp32 tf32; do
    tag="$model-$size-$prec"
    if [ "$(elapsed)" -ge "$budget" ]; then
      echo '{"not_run": "time budget"}' >"$out/natssl-$tag.json"
      echo '{"not_run": "time budget"}' >"$out/pytorch-$tag.json"
      continue
    fi
    log "bench train: natssl $tag"
    timeout 150 "${natssl[@]}" bench train --replicas 1 --warmup 2 --steps 5 --json \
      --set train.devices=cuda:0 --set train.precision="$prec" --set model.backbone="$model" \
      --set model.width=64 --set data.image_size="$size" --set data.batch_size="$batch" \
      --set model.proj_hidden=2048 --set model.proj_dim=128 --set train.optimizer=adamw \
      --set train.temperature=0.5 --set train.lr=0.0001 --set train.weight_decay=0.000001 \
      >"$out/natssl-$tag.log" 2>&1
    tail -n 1 "$out/natssl-$tag.log" >"$out/natssl-$tag.json"
    log "bench train: PyTorch $tag"
    timeout 150 python3 trainer/testdata/pytorch_peer.py --device cuda --precision "$prec" --model "$model" \
      --width 64 --size "$size" --batch "$batch" --proj-hidden 2048 --proj-dim 128 --warmup 2 --steps 5 \
      --lr 0.0001 --weight-decay 0.000001 >"$out/pytorch-$tag.log" 2>&1
    tail -n 1 "$out/pytorch-$tag.log" >"$out/pytorch-$tag.json"
  done
done

# (c) the loader at 224 px on every core.
if [ "$(elapsed)" -lt "$budget" ]; then
  log "bench loader at 224 px, $(nproc) workers"
  timeout 90 "${natssl[@]}" bench loader --source "$bundle/photos" --size 224 --seconds 6 --workers "$(nproc)" \
    --json >"$out/loader.log" 2>&1
  tail -n 1 "$out/loader.log" >"$out/loader.json"
else
  echo '{"not_run": "time budget"}' >"$out/loader.json"
fi

# (d) the summary.
python3 - "$out" "$(elapsed)" "${runs[@]}" <<'PY'
import json, os, re, sys

out, elapsed, runs = sys.argv[1], int(sys.argv[2]), [r.split() for r in sys.argv[3:]]


def read_json(name):
    try:
        text = open(os.path.join(out, name)).read().strip()
        return json.loads(text) if text.startswith("{") else {"error": text[-400:] or "no output"}
    except (OSError, ValueError) as e:
        return {"error": str(e)}


def no_device(text):
    return any(s in text for s in ("no CUDA driver found", "no such CUDA device", "no GPU here",
                                   "Torch not compiled with CUDA", "No CUDA GPUs", "No module named 'torch'",
                                   "Found no NVIDIA driver", "the driver sees no GPU"))


def outcome(d):
    if "error" in d:
        return "no device" if no_device(d["error"]) else "error"
    return "not run (time budget)" if "not_run" in d else "ok"


def tests(binary):
    path = os.path.join(out, binary + ".log")
    text = open(path).read() if os.path.exists(path) else ""
    rc = open(os.path.join(out, binary + ".rc")).read().strip() if os.path.exists(os.path.join(out, binary + ".rc")) else "?"
    res, said, current = [], {}, None
    for line in text.splitlines():
        run = re.match(r"^=== (?:RUN|CONT|NAME)\s+(\S+)", line)
        if run:
            current = run.group(1)
            continue
        msg = re.match(r"^\s+\S+\.go:\d+: (.*)$", line)
        if msg and current:
            said.setdefault(current, []).append(msg.group(1))
            continue
        m = re.match(r"^\s*--- (PASS|FAIL|SKIP): (\S+) \(([\d.]+)s\)", line)
        if m:
            t = {"test": m.group(2), "result": m.group(1), "seconds": float(m.group(3))}
            if m.group(1) != "PASS" and said.get(m.group(2)):
                t["why"] = said[m.group(2)][-1]
            res.append(t)
    top = [t for t in res if "/" not in t["test"]]
    if not top:
        status = "error (exit %s)" % rc
    elif any(t["result"] == "FAIL" for t in res):
        status = "FAIL"
    elif all(t["result"] == "SKIP" for t in top):
        status = "no device" if all(no_device(t.get("why", "")) for t in top) else "skipped"
    else:
        status = "PASS" if rc == "0" else "error (exit %s)" % rc
    return {"status": status, "exit": rc, "tests": res}


summary = {"elapsed_s": elapsed, "machine": open(os.path.join(out, "machine.txt")).read(),
           "tests": {b: tests(b) for b in ("cuda.test", "trainer.test")}, "bench_train": []}
for model, size, batch in runs:
    for prec in ("fp32", "tf32"):
        tag = f"{model}-{size}-{prec}"
        n, p = read_json(f"natssl-{tag}.json"), read_json(f"pytorch-{tag}.json")
        row = {"model": model, "image_size": int(size), "batch": int(batch), "precision": prec,
               "natssl": n, "pytorch": p, "natssl_status": outcome(n), "pytorch_status": outcome(p)}
        if "step_s" in n and "step_s" in p:
            row["step_ratio"] = n["step_s"] / p["step_s"]  # > 1: natssl is slower
        summary["bench_train"].append(row)
loader = read_json("loader.json")
summary["loader"] = {"status": outcome(loader), **loader}
gpu = {r["precision"]: r["natssl"]["images_per_s"] for r in summary["bench_train"]
       if r["model"] == "resnet50" and "images_per_s" in r["natssl"]}
if "images_per_s" in loader:
    summary["loader_vs_gpu_resnet50"] = {p: loader["images_per_s"] / v for p, v in gpu.items()}
json.dump(summary, open(os.path.join(out, "gpu-check.json"), "w"), indent=2)

print("\n== gpu-check: %d s, results in %s" % (elapsed, out))
print(summary["machine"].strip())
for b, t in summary["tests"].items():
    print(f"\n{b}: {t['status']}")
    for x in t["tests"]:
        if "/" not in x["test"] or x["result"] == "FAIL":
            why = ("  " + x["why"][:160]) if x.get("why") else ""
            print(f"  {x['result']:4} {x['test']} ({x['seconds']:.1f} s){why}")
print("\nbench train on cuda:0 (median step after 2 warm-up steps; ratio > 1: natssl slower)")
print("| model | px | batch | precision | natssl step | PyTorch step | ratio | natssl images/s | PyTorch images/s |")
print("|---|---|---|---|---|---|---|---|---|")
for r in summary["bench_train"]:
    n, p = r["natssl"], r["pytorch"]
    ns = f"{n['step_s']:.3f} s" if "step_s" in n else r["natssl_status"]
    ps = f"{p['step_s']:.3f} s" if "step_s" in p else r["pytorch_status"]
    ratio = f"{r['step_ratio']:.2f}×" if "step_ratio" in r else "-"
    ni = f"{n['images_per_s']:.0f}" if "images_per_s" in n else "-"
    pi = f"{p['images_per_s']:.0f}" if "images_per_s" in p else "-"
    print(f"| {r['model']} | {r['image_size']} | {r['batch']} | {r['precision']} | {ns} | {ps} | {ratio} | {ni} | {pi} |")
for r in summary["bench_train"]:
    for who in ("natssl", "pytorch"):
        if r[who + "_status"] == "error":
            print(f"  {who} {r['model']} {r['precision']}: {r[who]['error'][-300:]}")
l = summary["loader"]
if "images_per_s" in l:
    print(f"\nbench loader at 224 px, {l.get('cores')} cores: {l['images_per_s']:.0f} images/s "
          f"(decode only {l.get('decode_images_per_s', 0):.0f}/s)")
    for p, v in summary.get("loader_vs_gpu_resnet50", {}).items():
        print(f"  against resnet50 training on cuda:0 in {p}: {v:.2f}× (below 1: the loader starves the GPU)")
else:
    print(f"\nbench loader: {l['status']} {l.get('error', '')[-300:]}")
PY
