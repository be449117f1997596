# Sourced by the overhead scripts: starts a `waypoint serve` on the demo model
# with ephemeral ports, logging to $work/NAME.log, and prints its address.
# Needs $bin, $model and $work set by the caller.
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

hub_of() {  # name -> the hub's publish endpoint
  sed -n 's/.*event hub on \(\S*\) .*/\1/p' "$work/$1.log" | head -1
}
