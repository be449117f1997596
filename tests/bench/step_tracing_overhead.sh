#!/usr/bin/env bash
# Serving with step tracing off and on at every step (sample rate 1.0, a
# `waypoint events --topic step` subscriber attached), side by side: two
# servers on the demo model, loaded in alternation by `waypoint bench` so
# drift on a noisy machine hits both alike.
# Usage: tests/bench/step_tracing_overhead.sh [BUILD_DIR] [ROUNDS] [PROMPTS] [OUTPUT_LEN]
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
prompts=${3:-256}
output_len=${4:-128}
bin=$build/bin/waypoint
model=$build/fixtures/tiny-f32
work=$(mktemp -d)
trap 'stop_servers; kill -TERM $(jobs -p) 2>/dev/null; wait; rm -rf "$work"' EXIT

source "$(dirname "$0")/serve_side_by_side.sh"

off=$(serve off)
on=$(serve on --step-tracing-enabled --step-tracing-sample-rate 1.0)
hub=$(hub_of on)
"$bin" events --connect "$hub" --topic step --format jsonl --output "$work/steps.jsonl" &

run() {  # address, round -> "output_tok_s median_tpot_ms"
  "$bin" bench --base-url "http://$1" --dataset-name random --random-input-len 64 \
    --random-output-len "$output_len" --num-prompts "$prompts" --seed "$2" \
    --result-json "$work/r.json" > /dev/null 2>&1
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%.0f %.2f" % (r["output_throughput"], r["median_tpot_ms"]))' "$work/r.json"
}

run "$off" 0 > /dev/null  # warm both up
run "$on" 0 > /dev/null
echo "round off_tok_s off_tpot_ms on_tok_s on_tpot_ms on/off_tok_s"
for r in $(seq "$rounds"); do
  read -r a ta < <(run "$off" "$r")
  read -r b tb < <(run "$on" "$r")
  echo "$r $a $ta $b $tb $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')"
done
echo "step events recorded: $(wc -l < "$work/steps.jsonl")"
