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
trap 'stop_servers; kill -TERM $(jobs -p) 2>/dev/null; wait; rm -rf "$work"' EXIT

source "$(dirname "$0")/serve_side_by_side.sh"

off=$(serve off)
on=$(serve on --enable-journey-tracing --journey-tracing-sample-rate 1.0)
hub=$(hub_of on)
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
