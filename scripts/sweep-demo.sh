#!/usr/bin/env bash
# make sweep-demo: the search behind the demo recipe, in one command. A random search over the
# keys that matter for the demo (temperature, width, crop scale, colour-jitter strength, lr,
# batch), each trial a normal tracked run of the default config with the demo's budget
# (10 minutes on 2 cores), judged on the validation suite built from the Fashion-MNIST training
# images (never on the evaluation suite), then the sweep's report. A one-trial sweep of the
# current default recipe runs first, so that the table has the recipe to beat on the same suite.
# Each trial keeps the default config's online monitor (every 50 steps: kNN on the monitor set,
# the probe on 2 tasks of the validation suite), so that its run report shows it learn; its time
# is outside the budget.
#
#   make sweep-demo                               # TRIALS=12, BUDGET=10m, PARALLEL=1
#   make sweep-demo TRIALS=2 BUDGET=20s           # a smoke run of the same design
#   make sweep-demo RESUME=<sweep id>             # continue an interrupted sweep
#
# The batch is tied to train.steps so that every trial sees about the same number of images
# (115k, the default's 450 × 256); the budget stops a slower configuration first.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/natssl}
DATA=${DATA:-data/fmnist}
TRIALS=${TRIALS:-12}
BUDGET=${BUDGET:-10m}
PARALLEL=${PARALLEL:-1}
BASELINE=${BASELINE:-1}
RESUME=${RESUME:-}
REPORT=${REPORT:-runs/sweep-demo}
EXTRA=("$@") # extra global flags, e.g. --db runs/sweep.db

PARAMS=(
	--param 'train.temperature=log:0.05..0.5'
	--param 'model.width=32,48,64'
	--param 'augment.crop_scale=[0.08,1],[0.2,1],[0.35,1]'
	--param 'augment.jitter.brightness+augment.jitter.contrast+augment.jitter.saturation+augment.jitter.hue=0.2/0.2/0.2/0.05,0.4/0.4/0.4/0.1,0.8/0.8/0.8/0.2'
	--param 'train.lr=log:0.0003..0.003'
	--param 'data.batch_size+train.steps=128/900,256/450,512/225'
)

say() { printf '\n== %s\n' "$*"; }
json_field() { # json_field KEY: a top-level string or number field of the JSON on stdin
	sed -n 's/.*"'"$1"'": *"\{0,1\}\([^",}]*\)"\{0,1\}.*/\1/p' | head -1
}

if [ ! -f "$DATA/train.json" ] || [ ! -f "$DATA/val/labels.csv" ] || [ ! -f "$DATA/monitor/images.tar" ]; then
	say "converting Fashion-MNIST into $DATA (needs Debian's dataset-fashion-mnist)"
	"$BIN" data fashion-mnist --out "$DATA"
fi
DATA_SETS=(--set "data.source=$DATA/train.json" --set "eval.newt_csv=$DATA/newt/labels.csv"
	--set "eval.images=$DATA/newt/images.tar.gz" --set "eval.val_csv=$DATA/val/labels.csv"
	--set "eval.val_images=$DATA/val/images.tar.gz" --set "eval.monitor_knn=$DATA/monitor/images.tar")

if [ -n "$RESUME" ]; then
	say "resuming sweep $RESUME"
	out=$("$BIN" sweep --resume "$RESUME" --json "${EXTRA[@]}" | tail -1)
else
	if [ "$BASELINE" = 1 ]; then
		say "the current default recipe, one trial, scored on the validation suite"
		# A one-value sweep of a key at its default value is the default recipe itself.
		base=$("$BIN" sweep --param "train.temperature=$("$BIN" config print | sed -n 's/^  temperature: //p')" \
			--budget "$BUDGET" --json "${DATA_SETS[@]}" "${EXTRA[@]}" | tail -1)
		"$BIN" report --sweep "$(json_field sweep_id <<<"$base")" --out "$REPORT/default" "${EXTRA[@]}" >/dev/null
		printf 'default recipe: validation %.4f (sweep %s)\n' "$(json_field best_validation <<<"$base")" "$(json_field sweep_id <<<"$base")"
	fi
	say "random search: $TRIALS trials, $BUDGET each, $PARALLEL at a time"
	out=$("$BIN" sweep --random "$TRIALS" --budget "$BUDGET" --parallel "$PARALLEL" "${PARAMS[@]}" --json \
		"${DATA_SETS[@]}" "${EXTRA[@]}" | tail -1)
fi
id=$(json_field sweep_id <<<"$out")
"$BIN" report --sweep "$id" --out "$REPORT/search" "${EXTRA[@]}" >/dev/null
printf '\nsweep %s: best trial %s, validation %.4f (run %s)\n' "$id" "$(json_field best_trial <<<"$out")" \
	"$(json_field best_validation <<<"$out")" "$(json_field best_run_id <<<"$out")"
printf 'report: %s/search/report.html (and report.md)\n' "$REPORT"
