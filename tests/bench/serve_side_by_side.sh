# Sourced by the overhead scripts: starts a `waypoint serve` on the demo model
# with ephemeral ports, logging to $work/NAME.log, and prints its address.
# Needs $bin, $model and $work set by the caller, whose EXIT trap must call
# stop_servers: a server started inside $(serve ...) is not one of the
# caller's jobs, so `kill $(jobs -p)` would leave it running.
serve() {  # name, extra flags...
  local name=$1; shift
  "$bin" serve --model "$model" --served-model-name tiny --port 0 \
    --event-endpoint 'tcp://127.0.0.1:*' --event-replay-endpoint 'tcp://127.0.0.1:*' "$@" \
    > "$work/$name.log" 2>&1 &
  echo $! > "$work/$name.pid"
  for _ in $(seq 600); do  # up to a minute: a larger model takes a while to load
    grep -q "serve: serving" "$work/$name.log" && break
    sleep 0.1
  done
  sed -n 's/.*serving tiny on http:\/\/\([0-9.:]*\).*/\1/p' "$work/$name.log" | head -1
}

hub_of() {  # name -> the hub's publish endpoint
  sed -n 's/.*event hub on \(\S*\) .*/\1/p' "$work/$1.log" | head -1
}

stop_servers() {  # SIGTERM every server serve() started, and wait for each to exit
  local f pid
  for f in "$work"/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$f"
  done
}
