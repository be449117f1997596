#!/usr/bin/env bash
# Two builds of waypoint serving the same model side by side: one server from
# each, loaded in alternation by the same `waypoint bench` at a low rate, a high
# rate and all at once, so drift on a noisy machine hits both alike. Prints
# each run's bench means and output throughput, and the ratio new / old per
# round. This is "ours against the previous commit" for the serving path.
# Usage: [SERVE_FLAGS=...] [LOADS=...] [MIX=...] [WAYPOINT_MODEL=DIR] \
#          tests/bench/builds_side_by_side.sh OLD_BUILD NEW_BUILD [ROUNDS]
# SERVE_FLAGS go to both servers (e.g. "--tensor-parallel-size 2"). LOADS is
# "RATE:PROMPTS ..." (default "8:120 20:300 inf:200"); MIX, bench's dataset
# flags (default: random, 256 tokens in, 96 out); WARMUP, the prompts each
# server gets first (default 200).
set -euo pipefail
old=${1:?old build directory}
new=${2:?new build directory}
rounds=${3:-3}
model=${WAYPOINT_MODEL:-${XDG_CACHE_HOME:-$HOME/.cache}/waypoint/models/demo-tiny}
work=$(mktemp -d)
trap 'stop_servers; kill -TERM $(jobs -p) 2>/dev/null; wait; rm -rf "$work"' EXIT

source "$(dirname "$0")/serve_side_by_side.sh"

declare -A address
for side in old new; do
  bin=${!side}/bin/waypoint
  # shellcheck disable=SC2086
  address[$side]=$(serve "$side" --no-enable-prefix-caching ${SERVE_FLAGS:-})
  [ -n "${address[$side]}" ] || { echo "the $side server did not start:"; cat "$work/$side.log"; exit 1; }
done
bin=$new/bin/waypoint  # one load generator for both
read -r -a mix <<< "${MIX:---dataset-name random --random-input-len 256 --random-output-len 96 --random-range-ratio 0.9}"
for side in old new; do  # a fresh server is slower until its memory has been touched
  "$bin" bench --base-url "http://${address[$side]}" "${mix[@]}" --num-prompts "${WARMUP:-200}" \
    --request-rate 20 --seed 100 --max-concurrency 8 > /dev/null 2>&1
done

run() {  # side rate prompts round -> "ttft itl e2e tok/s"
  "$bin" bench --base-url "http://${address[$1]}" "${mix[@]}" --num-prompts "$3" \
    --request-rate "$2" --seed "$4" --result-json "$work/$1.json" > /dev/null 2>&1
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))
print("%.2f %.3f %.2f %.0f" % (r["mean_ttft_ms"], r["mean_itl_ms"], r["mean_e2el_ms"], r["output_throughput"]))' "$work/$1.json"
}

echo "| round | req/s | side | TTFT mean ms | ITL mean ms | E2E mean ms | output tok/s |"
echo "|---|---|---|---|---|---|---|"
ratios=()
for round in $(seq "$rounds"); do
  for load in ${LOADS:-8:120 20:300 inf:200}; do
    declare -A got=()
    for side in old new; do
      got[$side]=$(run "$side" "${load%:*}" "${load#*:}" "$round")
      read -r ttft itl e2e tps <<< "${got[$side]}"
      echo "| $round | ${load%:*} | $side | $ttft | $itl | $e2e | $tps |"
    done
    ratios+=("$(python3 -c 'import sys; o=list(map(float,sys.argv[1].split())); n=list(map(float,sys.argv[2].split()))
print("| %s | %s | E2E %.3f | tok/s %.3f |" % (sys.argv[3], sys.argv[4], n[2]/o[2], n[3]/o[3]))' \
      "${got[old]}" "${got[new]}" "$round" "${load%:*}")")
  done
done
echo
echo "new / old, per round:"
echo "| round | req/s | E2E mean | output tok/s |"
echo "|---|---|---|---|"
printf '%s\n' "${ratios[@]}" | sed 's/E2E //; s/tok\/s //'
