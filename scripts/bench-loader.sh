#!/usr/bin/env bash
# The loader benchmark, natssl against the torchvision peer in one sitting, on the
# same photos with the same recipe (the peer's: SimCLR crop scale 0.08–1, flip, jitter
# 0.4/0.4/0.4/0.1 p 0.8, grayscale 0.2, blur p 0.5), one decode and two views per image:
#
#   scripts/bench-loader.sh [SIZES [SECONDS]]        (default 96,224 and 8)
#
# Per core: natssl's loader with one worker against the better of the peer's single-process
# loop (torch threads = 1) and its DataLoader with workers=0; all cores: natssl with one worker per core against a DataLoader with as many
# worker processes. Needs the photo set (make photos), bin/natssl (make build) and Debian's
# python3-torchvision.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-96,224}
seconds=${2:-8}
photos=${PHOTOS:-/tmp/natssl-photos}
cores=$(nproc)
[ -d "$photos" ] || scripts/make-photos.sh "$photos"
[ -x bin/natssl ] || make build
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
recipe=(--set 'augment.crop_scale=[0.08,1.0]' --set 'augment.crop_ratio=[0.75,1.3333333]'
  --set augment.flip_p=0.5 --set augment.jitter.p=0.8 --set augment.jitter.brightness=0.4
  --set augment.jitter.contrast=0.4 --set augment.jitter.saturation=0.4 --set augment.jitter.hue=0.1
  --set augment.grayscale_p=0.2 --set augment.blur.p=0.5 --set 'augment.blur.sigma=[0.1,2.0]'
  --set augment.solarize_p=0)
for s in ${sizes//,/ }; do
  echo "bench-loader: natssl at $s px..." >&2
  bin/natssl bench loader --source "$photos" --size "$s" --seconds "$seconds" --workers "$cores" \
    "${recipe[@]}" --json | tail -n 1 >"$out/natssl-$s.json"
done
echo "bench-loader: torchvision peer..." >&2
/usr/bin/python3 ../shared/peers/torch_loader.py --photos "$photos" --sizes "$sizes" \
  --workers "0,$cores" --seconds "$seconds" | tail -n 1 >"$out/peer.json"
bin/natssl version | sed -n 1p
/usr/bin/python3 - "$out" "$sizes" "$cores" <<'PY'
import json, os, sys
out, sizes, cores = sys.argv[1], [int(s) for s in sys.argv[2].split(",")], int(sys.argv[3])
peer = json.load(open(os.path.join(out, "peer.json")))
print("photos: %(n)d JPEGs, mean %(mean_w)s x %(mean_h)s px, %(mean_kb)s KB" % peer["photos"])
print("%-5s %-38s %9s %9s" % ("size", "images/s (decode + two views)", "1 core", "%d cores" % cores))
for s in sizes:
    n = json.load(open(os.path.join(out, "natssl-%d.json" % s)))
    p = next(r for r in peer["results"] if r["S"] == s)
    # The peer's per-core figure is the better of its single-process loop (torch threads = 1)
    # and its DataLoader with workers=0, so that the ratio is never flattered.
    p1 = max(p["single_process_per_core"]["images_per_s"],
             next(l for l in p["loader"] if l["workers"] == 0)["images_per_s"])
    pn = next(l for l in p["loader"] if l["workers"] == cores)["images_per_s"]
    rows = [("natssl loader", n["images_per_s_per_core"], n["images_per_s"]),
            ("torchvision peer", p1, pn),
            ("ratio", n["images_per_s_per_core"] / p1, n["images_per_s"] / pn),
            ("natssl decode only (ceiling)", n.get("decode_images_per_s_per_core"), n["decode_images_per_s"])]
    for name, a, b in rows:
        fmt = "%9.1fx" if name == "ratio" else "%9.0f"
        print("%-5s %-38s %s %s" % (s, name, fmt % a if a is not None else "%9s" % "", fmt % b))
    print("%-5s %-38s %9.0f MiB" % (s, "natssl peak RSS", n["peak_rss_bytes"] / 2**20))
PY
