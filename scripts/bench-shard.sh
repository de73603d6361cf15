#!/usr/bin/env bash
# The shard benchmark, in one sitting on the photo set (make photos):
#   1. natssl data shard from a tar.gz of the photo set (COPIES copies of it, so that a run
#      takes seconds, not the fixed cost of a few fsyncs) into shards of 48 MB, with 1 and 2
#      jobs: MB/s (shard bytes written per second) and images/s, the median of RUNS runs;
#   2. the photo set's tar.gz in 4 shards, read with 2 replicas for one epoch (the shards read
#      REPEAT times): bytes read per replica against the stored total, and images/s, dealt by
#      shard against the sample split (every replica reads every shard, keeps every 2nd).
#
#   scripts/bench-shard.sh [RUNS [REPEAT [SIZE [COPIES]]]]      (default 5, 8, 96, 8)
#
# Needs bin/natssl (make build) and the photo set (make photos; PHOTOS to move it).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
repeat=${2:-8}
size=${3:-96}
copies=${4:-8}
photos=${PHOTOS:-/tmp/natssl-photos}
[ -d "$photos" ] || scripts/make-photos.sh "$photos"
[ -x bin/natssl ] || make build
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -czf "$tmp/photos.tar.gz" -C "$(dirname "$photos")" "$(basename "$photos")"
mkdir "$tmp/set"
for i in $(seq "$copies"); do ln -s "$(cd "$photos" && pwd)" "$tmp/set/photos-$i"; done
tar --hard-dereference -czhf "$tmp/copies.tar.gz" -C "$tmp" set
for jobs in 1 2; do
  for r in $(seq "$runs"); do
    rm -rf "$tmp/timed"
    bin/natssl data shard --from "$tmp/copies.tar.gz" --out "$tmp/timed" --shard-size 48MB --jobs "$jobs" --json |
      tail -n 1 >"$tmp/shard-$jobs-$r.json"
  done
done
bin/natssl data shard --from "$tmp/photos.tar.gz" --out "$tmp/shards" --shards 4 >/dev/null
for split in auto sample; do
  echo "bench-shard: reading with 2 replicas, split $split..." >&2
  bin/natssl bench loader --source "$tmp/shards/train.json" --size "$size" --seconds 1 --repeat "$repeat" \
    --replicas 2 --split "$split" --batch 64 --json 2>/dev/null | tail -n 1 >"$tmp/read-$split.json"
done
bin/natssl version | sed -n 1p
/usr/bin/python3 - "$tmp" "$runs" "$(stat -c %s "$tmp/copies.tar.gz")" "$copies" <<'PY'
import json, os, statistics, sys
tmp, runs, tgz, copies = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print("natssl data shard: %.1f MB tar.gz (%d copies of the photo set) -> 48 MB shards, median of %d runs" % (tgz / 1e6, copies, runs))
print("  %-6s %10s %10s" % ("jobs", "MB/s", "images/s"))
for jobs in (1, 2):
    rs = [json.load(open(os.path.join(tmp, "shard-%d-%d.json" % (jobs, r)))) for r in range(1, runs + 1)]
    print("  %-6d %10.1f %10.0f" % (jobs, statistics.median(r["mb_per_s"] for r in rs),
                                    statistics.median(r["images_per_s"] for r in rs)))
print("reading 4 shards with 2 replicas, one epoch:")
print("  %-8s %12s %26s" % ("split", "images/s", "bytes read per replica / stored"))
for split in ("auto", "sample"):
    r = json.load(open(os.path.join(tmp, "read-%s.json" % split)))
    frac = ", ".join("%.2f" % (b / r["data_bytes"]) for b in r["read_bytes_per_replica"])
    print("  %-8s %12.0f %26s" % (r["split"], r["epoch_images_per_s"], frac))
PY
