#!/usr/bin/env bash
# Serving throughput with journey tracing off and on (sample rate 1.0, a
# `waypoint events` subscriber attached), side by side: two servers on the
# demo model, loaded in alternation so drift on a noisy machine hits both.
# Usage: tests/bench/journey_overhead.sh [BUILD_DIR] [ROUNDS] [STREAMS] [TOKENS]
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
streams=${3:-256}
tokens=${4:-128}
bin=$build/bin/waypoint
model=$build/fixtures/tiny-f32
work=$(mktemp -d)
trap 'kill -TERM $(jobs -p) 2>/dev/null; wait; rm -rf "$work"' EXIT

serve() {  # name, extra flags...
  local name=$1; shift
  "$bin" serve --model "$model" --served-model-name tiny --port 0 \
    --event-endpoint 'tcp://127.0.0.1:*' --event-replay-endpoint 'tcp://127.0.0.1:*' "$@" \
    > "$work/$name.log" 2>&1 &
  for _ in $(seq 100); do
    grep -q "serve: serving" "$work/$name.log" && break
    sleep 0.1
  done
  sed -n 's/.*serving tiny on http:\/\/\([0-9.:]*\).*/\1/p' "$work/$name.log" | head -1
}

off=$(serve off)
on=$(serve on --enable-journey-tracing --journey-tracing-sample-rate 1.0)
hub=$(sed -n 's/.*event hub on \(\S*\) .*/\1/p' "$work/on.log" | head -1)
"$bin" events --connect "$hub" --format jsonl --output "$work/events.jsonl" &

run() {  # address -> tokens/s
  node tests/serve/js/concurrent_streams.mjs "$build/npm-openai" "http://$1" tiny "$streams" "$tokens" |
    awk -v n="$streams" -v t="$tokens" '{ for (i = 1; i <= NF; ++i) if ($i == "s") s = $(i - 1) } END { printf "%.0f", n * t / s }'
}

node tests/serve/js/concurrent_streams.mjs "$build/npm-openai" "http://$off" tiny 16 16 > /dev/null
node tests/serve/js/concurrent_streams.mjs "$build/npm-openai" "http://$on" tiny 16 16 > /dev/null
echo "round off_tok_s on_tok_s on/off"
for r in $(seq "$rounds"); do
  a=$(run "$off")
  b=$(run "$on")
  echo "$r $a $b $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')"
done
echo "events recorded: $(wc -l < "$work/events.jsonl")"
