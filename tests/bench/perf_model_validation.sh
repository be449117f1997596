#!/usr/bin/env bash
# The performance model's validation (docs/perf-model.md): on the demo model,
# record a trace of two benchmark runs at two request rates, fit alpha and
# beta from it, then predict with `waypoint sim` a third rate and a different
# mix of lengths, and measure both with `waypoint bench` on the same server.
# Usage: tests/bench/perf_model_validation.sh [BUILD_DIR] [OUT_DIR]
# Prints each comparison table; OUT_DIR keeps the trace, fit and results.
set -euo pipefail
build=${1:-build}
out=${2:-$(mktemp -d)}
bin=$build/bin/waypoint
model=${WAYPOINT_MODEL:-${XDG_CACHE_HOME:-$HOME/.cache}/waypoint/models/demo-tiny}
work=$out
mkdir -p "$work"
trap 'stop_servers; kill -TERM $(jobs -p) 2>/dev/null; wait' EXIT

source "$(dirname "$0")/serve_side_by_side.sh"

# The shared workload flags: lengths uniform in [len/2, 3len/2].
mix_a=(--dataset-name random --random-input-len 128 --random-output-len 128 --random-range-ratio 0.5)
mix_b=(--dataset-name random --random-input-len 384 --random-output-len 48 --random-range-ratio 0.5)

bench() {  # address, name, flags...
  local address=$1 name=$2; shift 2
  "$bin" bench --base-url "http://$address" "$@" --result-json "$work/$name.json" \
    > "$work/$name.txt" 2>&1
}

# Prefix caching is off on both sides: the demo model's vocabulary is 512
# tokens, so random prompts share prefixes, and a server's hit rate grows
# with everything it has served before, which a simulation of one run from
# an empty cache cannot know (docs/perf-model.md).
server_flags=(--no-enable-prefix-caching)
address=$(serve server "${server_flags[@]}" --enable-journey-tracing --step-tracing-enabled \
  --step-tracing-sample-rate 1)
"$bin" events --connect "$(hub_of server)" --format jsonl --output "$work/trace.jsonl" &
recorder=$!
sleep 0.5
bench "$address" warmup "${mix_a[@]}" --num-prompts 50 --request-rate 20 --seed 100
bench "$address" train_r10 "${mix_a[@]}" --num-prompts 400 --request-rate 10 --seed 1
bench "$address" train_r30 "${mix_a[@]}" --num-prompts 900 --request-rate 30 --seed 2
sleep 0.5
kill -INT "$recorder"; wait "$recorder" || true
# The measured runs keep a recorder attached, as in training: on a 2-core
# machine its CPU is part of what the model learned.
"$bin" events --connect "$(hub_of server)" --format jsonl --output "$work/measured.jsonl" &

"$bin" fit "$work/trace.jsonl" --out-dir "$work/fit" --warmup-steps 200 \
  --bench-result "$work/warmup.json" --bench-result "$work/train_r10.json" \
  --bench-result "$work/train_r30.json" > "$work/fit.txt" 2>&1

predict() {  # name, flags...
  local name=$1; shift
  bench "$address" "$name" "$@"
  "$bin" sim --coeffs "$work/fit/coeffs.json" --model "$model" "${server_flags[@]}" "$@" \
    --compare "$work/$name.json" --result-json "$work/sim_$name.json" > "$work/sim_$name.txt" 2>&1
  echo "== $name: $*"
  sed -n '/^Predicted against/,$p' "$work/sim_$name.txt"
}
predict rate20 "${mix_a[@]}" --num-prompts 600 --request-rate 20 --seed 3
predict mix_b_rate20 "${mix_b[@]}" --num-prompts 600 --request-rate 20 --seed 4
predict rate40 "${mix_a[@]}" --num-prompts 800 --request-rate 40 --seed 5
# The noise floor: the first workload measured again, as like as the machine allows.
bench "$address" rate20_again "${mix_a[@]}" --num-prompts 600 --request-rate 20 --seed 3
"$bin" sim --coeffs "$work/fit/coeffs.json" --model "$model" "${server_flags[@]}" "${mix_a[@]}" \
  --num-prompts 600 --request-rate 20 --seed 3 --compare "$work/rate20_again.json" \
  > "$work/sim_rate20_again.txt" 2>&1
echo "== rate20 measured again"
sed -n '/^Predicted against/,$p' "$work/sim_rate20_again.txt"
echo "outputs in $work"
