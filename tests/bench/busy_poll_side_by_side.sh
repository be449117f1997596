#!/usr/bin/env bash
# Serving with --busy-poll-us 0 (the engine core and the worker sleep on the
# step sockets) and with the default spin, side by side: two servers on the
# demo model with every step traced, loaded in alternation by `waypoint bench`
# at a low and a high request rate, and with every request at once, so drift
# on a noisy machine hits both alike. Prints each run's bench means, its output
# throughput and its median decode step at batch size 1.
# Usage: [SERVE_FLAGS=...] tests/bench/busy_poll_side_by_side.sh [BUILD_DIR] [ROUNDS] [SPIN_US]
# SERVE_FLAGS go to both servers (e.g. "--tensor-parallel-size 2").
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
spin=${3:-1000}
bin=$build/bin/waypoint
model=${WAYPOINT_MODEL:-${XDG_CACHE_HOME:-$HOME/.cache}/waypoint/models/demo-tiny}
work=$(mktemp -d)
trap 'stop_servers; kill -TERM $(jobs -p) 2>/dev/null; wait; rm -rf "$work"' EXIT

source "$(dirname "$0")/serve_side_by_side.sh"

declare -A address
for us in 0 "$spin"; do
  # shellcheck disable=SC2086
  address[$us]=$(serve "s$us" --no-enable-prefix-caching --step-tracing-enabled \
    --step-tracing-sample-rate 1 --busy-poll-us "$us" ${SERVE_FLAGS:-})
done
mix=(--dataset-name random --random-input-len 256 --random-output-len 96 --random-range-ratio 0.9)
for us in 0 "$spin"; do  # a fresh server is slower until its memory has been touched
  "$bin" bench --base-url "http://${address[$us]}" "${mix[@]}" --num-prompts 400 \
    --request-rate 20 --seed 100 > /dev/null 2>&1
done

run() {  # spin rate prompts round
  "$bin" events --connect "$(hub_of "s$1")" --topic step --format jsonl \
    --output "$work/steps.jsonl" &
  local recorder=$!
  sleep 0.5
  "$bin" bench --base-url "http://${address[$1]}" "${mix[@]}" --num-prompts "$3" \
    --request-rate "$2" --seed "$4" --result-json "$work/r.json" > /dev/null 2>&1
  sleep 0.5
  kill -INT "$recorder"
  wait "$recorder" || true
  python3 - "$work/r.json" "$work/steps.jsonl" "$1" "$2" <<'PY'
import json, statistics, sys
r = json.load(open(sys.argv[1]))
steps = [json.loads(l) for l in open(sys.argv[2])]
b1 = [s["step.duration_us"] for s in steps if s.get("event.type") == "step.BATCH_SUMMARY"
      and s["batch.num_prefill_reqs"] == 0 and s["batch.num_decode_reqs"] == 1]
print("| %s | %s | %.2f | %.3f | %.2f | %.0f | %.0f |" % (sys.argv[3], sys.argv[4],
      r["mean_ttft_ms"], r["mean_itl_ms"], r["mean_e2el_ms"], r["output_throughput"],
      statistics.median(b1) if b1 else float("nan")))
PY
}

echo "| busy-poll-us | req/s | TTFT mean ms | ITL mean ms | E2E mean ms | output tok/s | batch-1 decode step median us |"
echo "|---|---|---|---|---|---|---|"
for round in $(seq "$rounds"); do
  for load in 8:120 20:300 inf:200; do
    for us in 0 "$spin"; do run "$us" "${load%:*}" "${load#*:}" "$round"; done
  done
done
