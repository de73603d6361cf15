#!/usr/bin/env bash
# make methods-demo: the five self-supervised methods on the demo data, each in the demo's
# budget, against the random-init encoder, in one report. Every method trains one common recipe,
# so that the table compares methods and not recipes: the demo recipe as it was before
# `make sweep-demo` chose SimCLR's (configs/fmnist.yaml with COMMON_RECIPE below: convnet-small
# 32 wide at 32 px, batch 256, AdamW at lr 0.001, crop scale [0.2, 1], colour jitter 0.4,
# 450 steps (BYOL 900) or the budget, whichever comes first, the online monitor on), with its
# own keys below. Each is scored with the NeWT-style probe on the suite built from the
# Fashion-MNIST test images and lands in the tracker; then `natssl report` of the random-init
# run and the five, and a table of the gains. With SEEDS, all of it runs at each seed (run.seed)
# and the one report groups each method's seeds and compares the groups (README, "Methods").
#
#   make methods-demo                          # BUDGET=10m per method
#   make methods-demo BUDGET=90s               # a short check of the same design
#   METHODS="byol moco" make methods-demo      # some of them
#   make methods-demo SEEDS="42 43 44 45 46"   # five seeds, one report
#
# The recipes: each method's paper or solo-learn recipe at the demo's scale (see README,
# "Methods"). Extra arguments are passed to every natssl command, e.g. --db runs/methods.db.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/natssl}
DATA=${DATA:-data/fmnist}
BUDGET=${BUDGET:-10m}
METHODS=${METHODS:-simclr byol moco vicreg barlow}
REPORT=${REPORT:-runs/methods-demo}
SEEDS=${SEEDS:-}
EXTRA=("$@")

# recipe METHOD: the --set lines of one method over the demo recipe.
recipe() {
	case "$1" in
	simclr) echo "--set train.temperature=0.5" ;; # NT-Xent at the common recipe's temperature
	# BYOL: τ from 0.99 (solo-learn's CIFAR recipe; the paper's 0.996 is for 300+ epochs) to 1;
	# the projector's and the predictor's hidden layers 2048 wide, 16 times their 128 outputs as
	# the paper's 4096 are 16 times its 256; 900 steps (about 7.5 minutes on 2 cores); chosen on
	# the validation suite by small sweeps (README, "Methods").
	byol) echo "--set method.name=byol --set method.tau_base=0.99 --set model.proj_hidden=2048 --set train.steps=900" ;;
	# MoCo v2: the defaults (queue 4096 keys per view, τ 0.2, m 0.99 → 0.999).
	moco) echo "--set method.name=moco" ;;
	# VICReg and Barlow Twins: the three-layer projector, 512 wide (the papers' 8192 is four
	# times ResNet-50's 2048 features; convnet-small's are 256), the papers' coefficients.
	vicreg) echo "--set method.name=vicreg --set model.proj_hidden=512 --set model.proj_dim=512" ;;
	barlow) echo "--set method.name=barlow --set model.proj_hidden=512 --set model.proj_dim=512" ;;
	*)
		echo "methods-demo: unknown method $1 (want simclr, byol, moco, vicreg, barlow)" >&2
		exit 2
		;;
	esac
}

say() { printf '\n== %s\n' "$*"; }
json_field() { # json_field KEY: a top-level string or number field of the JSON on stdin
	sed -n 's/.*"'"$1"'": *"\{0,1\}\([^",}]*\)"\{0,1\}.*/\1/p' | head -1
}
for m in $METHODS; do recipe "$m" >/dev/null; done

if [ ! -f "$DATA/train.json" ] || [ ! -f "$DATA/newt/labels.csv" ] || [ ! -f "$DATA/monitor/images.tar" ]; then
	say "converting Fashion-MNIST into $DATA (needs Debian's dataset-fashion-mnist)"
	"$BIN" data fashion-mnist --out "$DATA"
fi
# The methods' common recipe over configs/fmnist.yaml (the demo recipe before the sweep).
COMMON_RECIPE=(--set model.width=32 --set data.batch_size=256 --set train.steps=450 --set train.lr=0.001
	--set 'augment.crop_scale=[0.2,1]' --set augment.jitter.brightness=0.4
	--set augment.jitter.contrast=0.4 --set augment.jitter.saturation=0.4 --set augment.jitter.hue=0.1)
COMMON=(--config fmnist "${COMMON_RECIPE[@]}" --set "data.source=$DATA/train.json" --set "eval.newt_csv=$DATA/newt/labels.csv"
	--set "eval.images=$DATA/newt/images.tar.gz" --set "eval.val_csv=$DATA/val/labels.csv"
	--set "eval.val_images=$DATA/val/images.tar.gz" --set "eval.monitor_knn=$DATA/monitor/images.tar"
	--set "train.time_limit=$BUDGET")

# gain ACC BASE: ACC − BASE in points.
gain() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.2f", 100 * (a - b) }'; }

ids=() # every run, the first seed's random-init run first (the report's baseline)
rows=()
for seed in ${SEEDS:-""}; do
	seed_set=()
	at=""
	shown=${seed:--} # the seed column: "-" for the config's run.seed
	if [ -n "$seed" ]; then
		seed_set=(--set "run.seed=$seed")
		at=" at seed $seed"
	fi
	say "evaluating a random-init encoder on the NeWT-layout suite$at"
	random_json=$("$BIN" eval --random-init --json "${COMMON[@]}" --set run.name=fmnist "${seed_set[@]}" "${EXTRA[@]}" | tail -1)
	random_id=$(json_field run_id <<<"$random_json")
	random_acc=$(json_field mean_accuracy <<<"$random_json")
	ids+=("$random_id")
	rows+=("$(printf '%-8s %5s %6s   %.4f   %6s   %s' random "$shown" 0 "$random_acc" "" "$random_id")")

	for m in $METHODS; do
		# shellcheck disable=SC2207 # the recipe is words of --set flags, no spaces inside
		sets=($(recipe "$m"))
		say "training $m$at ($BUDGET): ${sets[*]:-the demo recipe}"
		train_json=$("$BIN" train --json "${COMMON[@]}" --set "run.name=fmnist-$m" "${sets[@]}" "${seed_set[@]}" "${EXTRA[@]}" | tail -1)
		id=$(json_field run_id <<<"$train_json")
		steps=$(json_field steps <<<"$train_json")
		say "evaluating $m$at"
		eval_json=$("$BIN" eval --run "$id" --json "${COMMON[@]}" "${seed_set[@]}" "${EXTRA[@]}" | tail -1)
		acc=$(json_field mean_accuracy <<<"$eval_json")
		ids+=("$id")
		rows+=("$(printf '%-8s %5s %6s   %.4f   %6s   %s' "$m" "$shown" "$steps" "$acc" "$(gain "$acc" "$random_acc")" "$id")")
	done
done

say "writing the comparison report"
"$BIN" report "${ids[@]}" --out "$REPORT" "${COMMON[@]}" "${EXTRA[@]}" >/dev/null

printf '\nNeWT-style probe, mean accuracy over the tasks of the suite (budget %s per method):\n' "$BUDGET"
printf '%-8s %5s %6s   %-6s   %6s   %s\n' method seed steps acc gain run
printf '%s\n' "${rows[@]}"
if [ "$(wc -w <<<"$SEEDS")" -gt 1 ]; then
	# Each method's seeds against the random-init encoder's, as the report compares the groups.
	printf '\nover the %s seeds (natssl report'"'"'s seed groups):\n' "$(wc -w <<<"$SEEDS")"
	sed -n '/^### Seed groups/,/^|/p' "$REPORT/report.md" | grep -E '^- .* seeds?\) (beats|trails|differs) ' || true
fi
printf 'report: %s/report.html (and report.md)\n' "$REPORT"
