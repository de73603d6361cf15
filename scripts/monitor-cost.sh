#!/usr/bin/env bash
# The online monitor's cost on the demo recipe (the default config): short training runs with
# the monitor on and off in one sitting, in alternating order, and the cost extrapolated to the
# demo's schedule (the default config's train.steps and eval.monitor_every, step 0 included):
#
#   scripts/monitor-cost.sh [STEPS [PAIRS [EVERY]]]      (default 30 steps, 1 pair, every 15)
#
# Per run: wall and CPU seconds of the process; training seconds (the trainer's clock, which
# leaves the monitor out); the monitor's own seconds (the tracker's monitor/seconds); the time
# to read its sets once (its notice). The estimate for the demo is
#   (monitors × seconds per monitor + seconds to read the sets) / (train.steps × seconds per step),
# with monitors = train.steps / eval.monitor_every + 1,
# all measured in the monitored runs, so that a machine busy with other work slows both sides;
# the on/off ratios of wall and CPU time are printed too. Needs bin/natssl (make build) and the
# demo data with its monitor set (natssl data fashion-mnist --out data/fmnist).
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-30}
pairs=${2:-1}
every=${3:-15}
[ -x bin/natssl ] || make build
[ -f data/fmnist/monitor/images.tar ] || bin/natssl data fashion-mnist --out data/fmnist >/dev/null
# The demo's schedule, from the default config.
demo_steps=$(bin/natssl config print | awk '/^train:/ { t = 1 } t && /^  steps:/ { print $2; exit }')
demo_every=$(bin/natssl config print | awk '/^eval:/ { e = 1 } e && /^  monitor_every:/ { print $2; exit }')
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

run() { # run NAME EVERY: one training run; appends "name wall cpu train_s monitor_s monitors load_s" to $out/results
	local name=$1 ev=$2 json
	/usr/bin/time -f '%e %U %S' -o "$out/time" bin/natssl train --db "$out/cost.db" --set run.out_dir="$out/runs" \
		--set train.steps="$steps" --set train.log_every=10 --set train.checkpoint_every=0 \
		--set eval.monitor_every="$ev" --set run.name="$name" --json >"$out/stdout" 2>"$out/stderr"
	json=$(tail -1 "$out/stdout")
	local id elapsed load
	id=$(sed -n 's/.*"run_id":"\([0-9a-f]*\)".*/\1/p' <<<"$json")
	elapsed=$(sed -n 's/.*"elapsed_s":\([0-9.e+-]*\).*/\1/p' <<<"$json")
	load=$(sed -n 's/.*sets read in \([0-9.]*\)s$/\1/p' "$out/stderr")
	read -r wall user sys <"$out/time"
	read -r mon n < <(sqlite3 -separator ' ' "$out/cost.db" \
		"select coalesce(sum(value), 0), count(*) from metrics where run_id = '$id' and key = 'monitor/seconds'")
	echo "$name $wall $(awk -v u="$user" -v s="$sys" 'BEGIN{print u+s}') $elapsed $mon $n ${load:-0}" >>"$out/results"
	grep -E '^step [0-9]+/[0-9]+ .*\| knn' "$out/stderr" >&2 || true
}

for p in $(seq "$pairs"); do
	if [ $((p % 2)) -eq 1 ]; then
		run on "$every"; run off 0
	else
		run off 0; run on "$every"
	fi
done

echo "monitor cost: $steps steps of the demo recipe, monitor every $every steps, $pairs pair(s); $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v steps="$steps" -v demo_steps="$demo_steps" -v demo_every="$demo_every" '
	{ printf "  %-3s  wall %6.1fs  cpu %6.1fs  training %6.1fs  monitor %5.1fs in %d  sets read %.1fs\n", $1, $2, $3, $4, $5, $6, $7 }
	$1 == "on"  { won += $2; con += $3; tr += $4; mon += $5; n += $6; load += $7; k++ }
	$1 == "off" { woff += $2; coff += $3 }
	END {
		per_mon = mon / n; per_step = tr / (k * steps); per_load = load / k
		printf "  per monitor %.2fs, per step %.2fs, sets read in %.2fs\n", per_mon, per_step, per_load
		demo_mon = int(demo_steps / demo_every) + 1
		printf "  demo estimate (%d steps, %d monitors): %.1f%% of the training time\n", demo_steps, demo_mon, 100 * (demo_mon * per_mon + per_load) / (demo_steps * per_step)
		printf "  this sitting, on against off: wall %+.1f%%, cpu %+.1f%%\n", 100 * (won / woff - 1), 100 * (con / coff - 1)
	}' "$out/results"
