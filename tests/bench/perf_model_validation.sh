#!/usr/bin/env bash
# The performance model's validation (docs/perf-model.md), on the demo model:
# record two benchmark runs at two request rates, fit alpha and beta from
# their trace, then predict with `waypoint sim` a third rate and different
# mixes of lengths, and compare with those workloads measured by `waypoint
# bench` on the same server. The session runs in rounds (ROUNDS, 5 unless
# set), each with a share of both training runs and one run of each predicted
# workload, so the drift of a shared machine falls on training and
# measurement alike; sim compares with the mean of the rounds' measurements
# and shows their spread, the noise floor of one measurement.
# Usage: [ROUNDS=N] tests/bench/perf_model_validation.sh [BUILD_DIR] [OUT_DIR]
# Prints each comparison table; OUT_DIR keeps traces, fit and results.
set -euo pipefail
build=${1:-build}
work=${2:-$(mktemp -d)}
rounds=${ROUNDS:-5}
bin=$build/bin/waypoint
model=${WAYPOINT_MODEL:-${XDG_CACHE_HOME:-$HOME/.cache}/waypoint/models/demo-tiny}
mkdir -p "$work"
trap 'stop_servers; kill -TERM $(jobs -p) 2>/dev/null; wait' EXIT

source "$(dirname "$0")/serve_side_by_side.sh"

# The workloads: lengths uniform in [len*(1-r), len*(1+r)]. Training uses a
# wide mix of lengths (train on diverse workloads), the predicted
# workloads narrower mixes inside it.
mix_t=(--dataset-name random --random-input-len 256 --random-output-len 96 --random-range-ratio 0.9)
mix_a=(--dataset-name random --random-input-len 128 --random-output-len 128 --random-range-ratio 0.5)
mix_b=(--dataset-name random --random-input-len 384 --random-output-len 48 --random-range-ratio 0.5)
declare -A flags=(
  [train_r8]="${mix_t[*]} --num-prompts 150 --request-rate 8"
  [train_r20]="${mix_t[*]} --num-prompts 300 --request-rate 20"
  [rate14]="${mix_t[*]} --num-prompts 250 --request-rate 14 --seed 3"
  [mix_a_rate20]="${mix_a[*]} --num-prompts 300 --request-rate 20 --seed 4"
  [mix_b_rate12]="${mix_b[*]} --num-prompts 200 --request-rate 12 --seed 5"
)
predicted=(rate14 mix_a_rate20 mix_b_rate12)

# Prefix caching is off on both sides: the demo model's vocabulary is 512
# tokens, so random prompts share prefixes, and a server's hit rate grows
# with everything it has served before, which a simulation of one run from
# an empty cache cannot know (docs/perf-model.md).
server_flags=(--no-enable-prefix-caching)
address=$(serve server "${server_flags[@]}" --enable-journey-tracing --step-tracing-enabled \
  --step-tracing-sample-rate 1)

# One bench run with its own recorder attached (every run has one, training
# or not: on a 2-core machine the recorder's CPU is part of what is learned).
run() {  # name round [extra bench flags]
  local name=$1 file=$1_$2
  shift 2
  "$bin" events --connect "$(hub_of server)" --format jsonl --output "$work/$file.jsonl" &
  local recorder=$!
  sleep 0.5
  # shellcheck disable=SC2086
  "$bin" bench --base-url "http://$address" ${flags[$name]} "$@" \
    --result-json "$work/$file.json" > "$work/$file.txt" 2>&1
  sleep 0.5
  kill -INT "$recorder"
  wait "$recorder" || true
}

# A fresh server is slower for its first thousands of steps (its memory is
# touched for the first time): warm it up before anything is recorded.
"$bin" bench --base-url "http://$address" "${mix_t[@]}" --num-prompts 400 --request-rate 20 \
  --seed 100 > "$work/warmup.txt" 2>&1
for round in $(seq "$rounds"); do
  run train_r8 "$round" --seed "1$round"
  run "${predicted[0]}" "$round"
  run train_r20 "$round" --seed "2$round"
  for name in "${predicted[@]:1}"; do run "$name" "$round"; done
done

cat "$work"/train_r*_[0-9].jsonl > "$work/train.jsonl"
results=()
for f in "$work"/train_r*_[0-9].json; do results+=(--bench-result "$f"); done
"$bin" fit "$work/train.jsonl" --out-dir "$work/fit" "${results[@]}" > "$work/fit.txt" 2>&1

for name in "${predicted[@]}"; do
  # shellcheck disable=SC2086
  "$bin" sim --coeffs "$work/fit/coeffs.json" --model "$model" "${server_flags[@]}" \
    ${flags[$name]} --compare "$work/${name}"_[0-9].json --result-json "$work/sim_$name.json" \
    > "$work/sim_$name.txt" 2>&1
  echo "== $name: ${flags[$name]}"
  sed -n '/^Predicted against/,$p' "$work/sim_$name.txt"
done
echo "== each run: sim's error, and the machine's speed (step time over beta's, same batches)"
python3 "$(dirname "$0")/perf_model_runs.py" "$work" "${predicted[@]}"
echo "outputs in $work"
