#!/usr/bin/env bash
# make demo: the whole natssl job on real photographs of real objects (Fashion-MNIST, from
# Debian's dataset-fashion-mnist), proving that self-supervision taught the encoder something:
#   1. convert the dataset (iNat-style train.json + tar shards, a NeWT-layout suite, and the
#      online monitor's labelled kNN set)
#   2. score a random-init encoder on the suite (the baseline)
#   3. train SimCLR with the default config (the demo recipe, 10-minute budget), watched by the
#      online monitor: kNN top-1 and the probe on 2 tasks every 50 steps, on the progress lines
#   4. score the trained encoder, and write the comparison report (with the monitor's plot)
# Every result also lands in the tracker (runs/natssl.db): `natssl runs list`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/natssl}
DATA=${DATA:-data/fmnist}
REPORT=${REPORT:-runs/demo-report}
EXTRA=("$@") # extra global flags, e.g. --set train.time_limit=2m

say() { printf '\n== %s\n' "$*"; }
json_field() { # json_field KEY: the value of a top-level string or number field of the JSON on stdin
	sed -n 's/.*"'"$1"'": *"\{0,1\}\([^",}]*\)"\{0,1\}.*/\1/p' | head -1
}

scripts/deps.sh # Fashion-MNIST and the rest, installed as root or named otherwise

if [ ! -f "$DATA/train.json" ] || [ ! -f "$DATA/newt/labels.csv" ] || [ ! -f "$DATA/monitor/images.tar" ]; then
	say "converting Fashion-MNIST into $DATA"
	"$BIN" data fashion-mnist --out "$DATA"
fi

say "evaluating a random-init encoder on the NeWT-layout suite"
random_json=$("$BIN" eval --random-init --json "${EXTRA[@]}" | tail -1)
random_id=$(json_field run_id <<<"$random_json")
random_acc=$(json_field mean_accuracy <<<"$random_json")

say "training SimCLR (the default config: $("$BIN" config print "${EXTRA[@]}" | sed -n 's/^  time_limit: //p') budget)"
train_log=$(mktemp)
trap 'rm -f "$train_log"' EXIT
# The progress lines go to the terminal as they come, and to train_log for the headline.
train_json=$("$BIN" train --json "${EXTRA[@]}" 2> >(tee "$train_log" >&2) | tail -1)
trained_id=$(json_field run_id <<<"$train_json")

say "evaluating the trained encoder"
trained_json=$("$BIN" eval --run "$trained_id" --json "${EXTRA[@]}" | tail -1)
trained_acc=$(json_field mean_accuracy <<<"$trained_json")

say "writing the comparison report"
"$BIN" report "$random_id" "$trained_id" --out "$REPORT" "${EXTRA[@]}" >/dev/null

gain=$(awk -v a="$trained_acc" -v b="$random_acc" 'BEGIN { printf "%+.2f", 100 * (a - b) }')
# The report's paired comparison: the gain's 95% interval (bootstrap over the test images,
# paired image by image), the tasks won and the sign test.
sentence=$(sed -n '/^### Paired comparison with the baseline/,/^##/s/^- \(.* points .*; p [=<] [0-9.]*\)\.$/\1/p' "$REPORT/report.md" | head -1)
interval=$(grep -o '\[[-+0-9.]*, [-+0-9.]*\]' <<<"$sentence" | head -1 || true)
printf '\nNeWT-style probe, mean accuracy over the tasks of the suite:\n'
printf '  random init   %.4f   (run %s)\n' "$random_acc" "$random_id"
printf '  SimCLR        %.4f   (run %s)\n' "$trained_acc" "$trained_id"
printf '  gain          %s points %s\n' "$gain" "${interval:-(no interval)}"
[ -z "$sentence" ] || printf '  %s\n' "$sentence"
# The online monitor during training: its first and last scores (kNN top-1, NeWT mean).
monitor() { # monitor first|last: "step S: knn K%  newt N%"
	sed -n 's/^step \([0-9]*\)\/[0-9]* .*| \(knn [0-9.]*%  newt [0-9.]*%\).*/step \1: \2/p' "$train_log" | { [ "$1" = first ] && head -1 || tail -1; }
}
if [ -n "$(monitor first)" ]; then
	printf 'online monitor during training: %s  →  %s   (plot: %s/monitor.svg)\n' "$(monitor first)" "$(monitor last)" "$REPORT"
fi
printf 'report: %s/report.html (and report.md)\n' "$REPORT"
