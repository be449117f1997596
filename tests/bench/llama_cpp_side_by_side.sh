#!/usr/bin/env bash
# Side-by-side CPU speed against llama.cpp on the same weights.
#
# Usage: tests/bench/llama_cpp_side_by_side.sh WAYPOINT_BUILD MODEL_DIR [f32|bf16|auto]
#
#   WAYPOINT_BUILD  a Waypoint build directory (bin/waypoint, bin/bench_cpu_model)
#   MODEL_DIR       a Llama model directory (config.json, *.safetensors,
#                   tokenizer.json), e.g. from `waypoint make-model`
#   dtype           GGUF weight type for llama.cpp (default auto: the
#                   safetensors' own). Give the type the model directory holds,
#                   so both engines read the same bytes.
#
# Environment:
#   LLAMA_CPP_DIR    llama.cpp source tree (default /work/peer/llama.cpp); its
#                    gguf-py writes the GGUF file
#   LLAMA_CPP_BUILD  its CMake build directory (default $LLAMA_CPP_DIR/build),
#                    holding bin/llama-bench and bin/llama-server
#   THREADS          threads for llama.cpp (default 2)
#   ROUNDS           alternating llama-bench / Waypoint rounds (default 2)
#   LLAMA_BENCH_REPS llama-bench -r per round (default 3)
#   LLAMA_BENCH_ARGS extra llama-bench arguments, e.g. "--poll 0" (default none)
#   CHECK_TOKENS     greedy tokens compared before timing (default 32; 0 skips)
#   SERVED           1 also runs the served comparison: llama-server and
#                    `waypoint serve` driven by `waypoint bench` at concurrency
#                    1, 4 and 16, 128 prompt / 128 output tokens
#   SERVED_CONCURRENCY  (default "1 4 16")
#   PYTHON           a python3 with numpy (default /usr/bin/python3)
#
# Steps: convert MODEL_DIR to GGUF in a temporary directory (removed on exit);
# check that llama.cpp (llama-server /completion, greedy) and `waypoint
# generate` (greedy) emit identical token ids for the same prompt ids, failing
# loudly if not; then alternate `llama-bench -p 512 -n 128` with Waypoint's
# in-process BM_ModelDir benchmark (bench_cpu_model) and print tok/s for each,
# the ratio waypoint/llama.cpp, and each engine's decode as a fraction of the
# bandwidth floor BM_ModelDir measures in the same run. With SERVED=1, also
# served batch-1 decode against the in-process one (the serving overhead).
# Skips (exit 0) when llama.cpp is not built.
#
# The greedy check runs llama-server with an f32 KV cache and flash attention
# off (both lossy in llama.cpp), so f32 weights should agree token for token;
# the timed runs use llama.cpp's defaults. llama.cpp's thread pool spins, and
# its figures swing widely when other work shares the cores: compare on an
# idle machine (the load average is printed with the table).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LLAMA_CPP_DIR=${LLAMA_CPP_DIR:-/work/peer/llama.cpp}
LLAMA_CPP_BUILD=${LLAMA_CPP_BUILD:-$LLAMA_CPP_DIR/build}
PYTHON=${PYTHON:-/usr/bin/python3}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-2}
LLAMA_BENCH_REPS=${LLAMA_BENCH_REPS:-3}
LLAMA_BENCH_ARGS=${LLAMA_BENCH_ARGS:-}
CHECK_TOKENS=${CHECK_TOKENS:-32}
SERVED=${SERVED:-0}
SERVED_CONCURRENCY=${SERVED_CONCURRENCY:-"1 4 16"}

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
build=$(cd "$1" && pwd)
model=$(cd "$2" && pwd)
dtype=${3:-auto}
case $dtype in f32|bf16|auto) ;; *) echo "dtype must be f32, bf16 or auto" >&2; exit 2 ;; esac

find_bin() {  # name -> path under the llama.cpp build, or nothing
  local b
  for b in "$LLAMA_CPP_BUILD/bin/$1" "$LLAMA_CPP_BUILD/$1"; do
    if [ -x "$b" ]; then echo "$b"; return 0; fi
  done
  return 0
}
llama_bench=$(find_bin llama-bench)
llama_server=$(find_bin llama-server)
if [ -z "$llama_bench" ] || [ -z "$llama_server" ] || [ ! -d "$LLAMA_CPP_DIR/gguf-py/gguf" ]; then
  echo "skipped: llama.cpp not found at $LLAMA_CPP_DIR (build $LLAMA_CPP_BUILD: needs bin/llama-bench, bin/llama-server and gguf-py)"
  exit 0
fi
waypoint=$build/bin/waypoint
bench_cpu=$build/bin/bench_cpu_model
[ -x "$waypoint" ] || { echo "error: no $waypoint" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/llama_cpp_sbs.XXXXXX")
pids=()
cleanup() {
  local pid
  if [ -n "${child:-}" ]; then
    kill -TERM "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run CMD...: run a long command in the background and wait for it, so that a
# SIGTERM to this script is handled at once (bash runs traps only between
# foreground commands) and the EXIT trap can stop it.
child=
run() {
  "$@" 0<&0 &
  child=$!
  local rc=0
  wait "$child" || rc=$?
  child=
  return "$rc"
}

stop_server() {  # pid: stop one server now and forget it
  local pid=$1 keep=() p
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${pids[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  pids=("${keep[@]+"${keep[@]}"}")
}

free_port() {
  "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_llama_server LOG PORT extra-args... ; sets $server_pid
start_llama_server() {
  local log=$1 port=$2; shift 2
  "$llama_server" -m "$gguf" --host 127.0.0.1 --port "$port" -t "$THREADS" --no-webui "$@" \
    > "$log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 1200); do  # up to two minutes
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "error: llama-server exited; its log:" >&2; tail -30 "$log" >&2; exit 1
    fi
    if "$PYTHON" - "$port" <<'EOF' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
    then return; fi
    sleep 0.1
  done
  echo "error: llama-server did not become healthy; its log:" >&2; tail -30 "$log" >&2; exit 1
}

# ---------------------------------------------------------------------------
# 1. convert

gguf=$work/model.gguf
echo "== converting $model to GGUF ($dtype)"
run "$PYTHON" "$here/safetensors_to_gguf.py" --llama-cpp-dir "$LLAMA_CPP_DIR" --dtype "$dtype" \
  "$model" "$gguf"
gguf_type=$("$PYTHON" - "$gguf" "$LLAMA_CPP_DIR" <<'EOF'
import sys; sys.path.insert(0, sys.argv[2] + "/gguf-py")
import gguf
r = gguf.GGUFReader(sys.argv[1])
print({t.tensor_type.name for t in r.tensors if len(t.shape) == 2} .pop())
EOF
)

# ---------------------------------------------------------------------------
# 2. greedy token identity

if [ "$CHECK_TOKENS" -gt 0 ]; then
  echo "== greedy check: $CHECK_TOKENS tokens"
  prompt=$("$PYTHON" - "$model/config.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
bos = c.get("bos_token_id")
bos = bos[0] if isinstance(bos, list) else bos
n = min(int(c["vocab_size"]), 500)
ids = ([bos] if bos is not None else []) + [(7 * i + 3) % n for i in range(16)]
print(",".join(map(str, ids)))
EOF
)
  run "$waypoint" generate --model "$model" --device cpu --prompt-token-ids "$prompt" \
    --max-tokens "$CHECK_TOKENS" --temperature 0 --json > "$work/waypoint_gen.json"
  port=$(free_port)
  # f32 KV cache and no flash attention: llama.cpp's default f16 cache rounds K
  # and V, and its CPU flash attention is lossy too (on the small preset it
  # moved a logit gap by 0.04 where plain attention matched a float64
  # reference to 1e-4), either of which flips near-tied greedy picks.
  start_llama_server "$work/llama_check.log" "$port" -c 2048 -np 1 -ctk f32 -ctv f32 -fa off
  run "$PYTHON" - "$port" "$prompt" "$CHECK_TOKENS" "$work/waypoint_gen.json" <<'EOF'
import json, sys, urllib.request
port, prompt, n, wp_path = sys.argv[1], [int(x) for x in sys.argv[2].split(",")], int(sys.argv[3]), sys.argv[4]
# chat_parser: an always-matching (epsilon) output parser. llama-server parses
# every completion's text as UTF-8 and answers 500 on a random-weight model's
# stray byte tokens; the token ids are what we compare anyway.
body = {"prompt": prompt, "n_predict": n, "temperature": 0, "top_k": 1, "samplers": ["top_k"],
        "return_tokens": True, "cache_prompt": False, "seed": 0,
        "chat_parser": json.dumps({"parsers": [{"type": "epsilon"}], "rules": {}, "root": 0})}
req = urllib.request.Request(f"http://127.0.0.1:{port}/completion", json.dumps(body).encode(),
                             {"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=600) as r:
    reply = json.load(r)
llama = reply["tokens"]
wp = json.load(open(wp_path))["token_ids"]
n_prompt = reply.get("timings", {}).get("prompt_n", reply.get("tokens_evaluated"))
print(f"prompt ids ({len(prompt)}, llama.cpp evaluated {n_prompt}): {prompt}")
print(f"waypoint : {wp}")
print(f"llama.cpp: {llama}")
if wp != llama:
    first = next((i for i, (a, b) in enumerate(zip(wp, llama)) if a != b), min(len(wp), len(llama)))
    print(f"FAIL: greedy tokens differ from position {first} "
          f"(waypoint {len(wp)} tokens, llama.cpp {len(llama)})", file=sys.stderr)
    print("(f32 should match exactly; with bf16 weights both engines round activations to bf16 "
          "at different points, so a near-tied pick can flip after a few dozen tokens. "
          "CHECK_TOKENS=0 skips this check.)", file=sys.stderr)
    sys.exit(1)
print(f"greedy tokens identical ({len(wp)} tokens)")
EOF
  stop_server "$server_pid"
fi

# ---------------------------------------------------------------------------
# 3. in-process: llama-bench vs BM_ModelDir, alternating

if [ "$ROUNDS" -gt 0 ]; then
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== timing: $ROUNDS round(s); llama-bench -p 512 -n 128 -t $THREADS -r $LLAMA_BENCH_REPS; bench_cpu_model BM_ModelDir"
for r in $(seq "$ROUNDS"); do
  echo "-- round $r: llama-bench"
  run "$llama_bench" -m "$gguf" -p 512 -n 128 -t "$THREADS" -r "$LLAMA_BENCH_REPS" -o json \
    $LLAMA_BENCH_ARGS \
    > "$work/llama_bench.$r.json" 2> "$work/llama_bench.$r.log" \
    || { cat "$work/llama_bench.$r.log" >&2; exit 1; }
  if [ -x "$bench_cpu" ]; then
    echo "-- round $r: waypoint bench_cpu_model"
    WAYPOINT_BENCH_MODEL=$model run "$bench_cpu" --benchmark_filter='BM_ModelDir' \
      --benchmark_format=json > "$work/waypoint_bench.$r.json" 2> "$work/waypoint_bench.$r.log" \
      || { echo "warning: bench_cpu_model failed:" >&2; tail -5 "$work/waypoint_bench.$r.log" >&2; }
  fi
done

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
"$PYTHON" - "$work" "$ROUNDS" "$model" "$gguf_type" "$THREADS" "$load_before" "$load_after" <<'EOF'
import json, os, statistics, sys
work, rounds, model, gtype, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
load_before, load_after = sys.argv[6], sys.argv[7]

def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

llama = {"pp512": [], "tg128": []}
for r in range(1, rounds + 1):
    for e in load(f"{work}/llama_bench.{r}.json") or []:
        key = f"pp{e['n_prompt']}" if e.get("n_gen", 0) == 0 else f"tg{e['n_gen']}"
        if key in llama:
            llama[key] += e.get("samples_ts") or [e["avg_ts"]]

def pick(benchmarks, tag):
    """tokens_per_s of the BM_ModelDir runs whose name has `tag`, batch 1 first."""
    rows = [b for b in benchmarks if b.get("run_type", "iteration") == "iteration"
            and b["name"].startswith("BM_ModelDir") and tag in b["name"].split("/")
            and "tokens_per_s" in b]
    one = [b for b in rows if "batch:1" in b["name"].split("/")]
    rows = one or rows
    if not rows:
        return None, []
    name = rows[0]["name"]
    return name, [b for b in rows if b["name"] == name]

wp = {"pp512": [], "tg128": []}
extra = {}
names = {}
for r in range(1, rounds + 1):
    j = load(f"{work}/waypoint_bench.{r}.json")
    if not j:
        continue
    for key, tag in (("pp512", "decode:0"), ("tg128", "decode:1")):
        name, rows = pick(j.get("benchmarks", []), tag)
        if name:
            names[key] = name
            wp[key] += [b["tokens_per_s"] for b in rows]
            for b in rows:
                for c in ("floor_tokens_per_s", "read_GBps"):
                    if c in b:
                        extra.setdefault((key, c), []).append(b[c])

med = lambda xs: statistics.median(xs) if xs else None
fmt = lambda x: f"{x:10.2f}" if x is not None else "       n/a"
print()
print(f"model {model} | llama.cpp weights {gtype} | {threads} threads | {rounds} round(s), medians")
print(f"{'test':<8}{'llama.cpp':>12}{'waypoint':>12}{'ratio wp/llama':>16}")
for key in ("pp512", "tg128"):
    l, w = med(llama[key]), med(wp[key])
    ratio = f"{w / l:16.3f}" if (l and w) else "             n/a"
    print(f"{key:<8}{fmt(l):>12}{fmt(w):>12}{ratio}")
for key in ("pp512", "tg128"):
    for who, xs in (("llama.cpp", llama[key]), ("waypoint", wp[key])):
        if xs:
            print(f"  {who} {key}: {len(xs)} sample(s), {min(xs):.2f} .. {max(xs):.2f}")
if not any(wp.values()):
    print("waypoint: n/a (bench_cpu_model has no BM_ModelDir benchmark, or it failed)")
else:
    for key in ("pp512", "tg128"):
        if key in names:
            print(f"  waypoint {key}: {names[key]}")
    for (key, c), xs in sorted(extra.items()):
        print(f"  waypoint {key} {c}: {med(xs):.2f}")
    floor = med(extra.get(("tg128", "floor_tokens_per_s"), []))
    if floor:
        shares = ", ".join(f"{who} {med(xs) / floor:.3f}"
                           for who, xs in (("llama.cpp", llama["tg128"]), ("waypoint", wp["tg128"])) if xs)
        print(f"tg128 as a fraction of the bandwidth floor ({floor:.2f} tok/s): {shares}")
    if wp["tg128"]:
        # The served comparison sets batch-1 TPOT against this.
        with open(f"{work}/tg128.txt", "w") as f:
            f.write(f"{med(wp['tg128'])}\n")
print("tok/s; llama.cpp pp512 = llama-bench -p 512, tg128 = -n 128; waypoint pp512 = "
      "BM_ModelDir decode:0 (512-token prefill), tg128 = decode:1 (batch-1 decode)")
print(f"load average before / after timing: {load_before} / {load_after} ({os.cpu_count()} CPUs)")
if max(float(load_before.split()[0]), float(load_after.split()[0])) > 0.5 * (os.cpu_count() or 1):
    print("warning: the machine was busy with other work; these figures are noisy")
EOF
fi

# ---------------------------------------------------------------------------
# 4. served (optional): llama-server vs waypoint serve, driven by waypoint bench
#
# Both servers are reached through the same small HTTP relay, so the client
# path is identical. For llama-server the relay adapts two things waypoint
# bench needs: it turns /detokenize's 500 for an id past the vocabulary into
# the 400 bench's vocabulary probe expects, and it adds the always-matching
# chat_parser to completion requests (see the greedy check) so a stray byte
# token does not end a stream with a 500. Neither changes the work done.

if [ "$SERVED" = 1 ]; then
  cat > "$work/relay.py" <<'EOF'
import http.client, http.server, json, socketserver, sys
upstream_host, upstream_port, adapt, port_file = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
EPSILON = json.dumps({"parsers": [{"type": "epsilon"}], "rules": {}, "root": 0})

class Relay(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def relay(self, method):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        if adapt and method == "POST" and self.path.rstrip("/").endswith("completions"):
            try:
                j = json.loads(body)
                j.setdefault("chat_parser", EPSILON)
                body = json.dumps(j).encode()
            except ValueError:
                pass
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "content-length", "connection")}
        up = http.client.HTTPConnection(upstream_host, upstream_port, timeout=3600)
        up.request(method, self.path, body=body if method == "POST" else None, headers=headers)
        r = up.getresponse()
        status = r.status
        if adapt and self.path.startswith("/detokenize") and status == 500:
            data = r.read()
            status = 400 if b"range" in data else 500
            self.send_simple(status, r.getheader("Content-Type", "application/json"), data)
        elif "text/event-stream" in (r.getheader("Content-Type") or ""):
            self.send_response(status)
            self.send_header("Content-Type", r.getheader("Content-Type"))
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            while True:
                chunk = r.read1(65536)
                if not chunk:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_simple(status, r.getheader("Content-Type", "application/json"), r.read())
        up.close()
        self.close_connection = True
    def send_simple(self, status, ctype, data):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        self.relay("GET")
    def do_POST(self):
        self.relay("POST")

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The default listen backlog of 5 drops connections when 16 clients start at once.
    request_queue_size = 128

srv = Server(("127.0.0.1", 0), Relay)
with open(port_file, "w") as f:
    f.write(str(srv.server_address[1]))
srv.serve_forever()
EOF
  start_relay() {  # upstream_port adapt -> sets $relay_pid, $relay_port
    rm -f "$work/relay.port"
    "$PYTHON" "$work/relay.py" 127.0.0.1 "$1" "$2" "$work/relay.port" 2>> "$work/relay.log" &
    relay_pid=$!
    pids+=("$relay_pid")
    for _ in $(seq 100); do [ -s "$work/relay.port" ] && break; sleep 0.05; done
    relay_port=$(cat "$work/relay.port")
  }
  run_load() {  # engine port -> result files $work/served.ENGINE.C.json
    local engine=$1 port=$2 c n
    for c in $SERVED_CONCURRENCY; do
      n=$(( c * 2 > 4 ? c * 2 : 4 ))
      echo "-- $engine: concurrency $c, $n prompts"
      run "$waypoint" bench --base-url "http://127.0.0.1:$port" --dataset-name random \
        --random-input-len 128 --random-output-len 128 --num-prompts "$n" \
        --max-concurrency "$c" --seed 0 --result-json "$work/served.$engine.$c.json" \
        > "$work/served.$engine.$c.log" 2>&1 \
        || { echo "warning: waypoint bench against $engine failed:" >&2; tail -5 "$work/served.$engine.$c.log" >&2; }
    done
  }

  echo "== served: waypoint bench, random 128 in / 128 out, concurrency $SERVED_CONCURRENCY"
  max_c=1
  for c in $SERVED_CONCURRENCY; do [ "$c" -gt "$max_c" ] && max_c=$c; done

  port=$(free_port)
  start_llama_server "$work/llama_serve.log" "$port" --parallel "$max_c" -c $(( max_c * 512 )) \
    --alias model
  start_relay "$port" 1
  run_load llama.cpp "$relay_port"
  stop_server "$relay_pid"
  stop_server "$server_pid"

  # Each llama-server slot holds 512 tokens; Waypoint's requests may grow as long.
  "$waypoint" serve --model "$model" --served-model-name model --port 0 --device cpu \
    --max-model-len 512 --event-endpoint 'tcp://127.0.0.1:*' --event-replay-endpoint 'tcp://127.0.0.1:*' \
    > "$work/waypoint_serve.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  addr=
  for _ in $(seq 1200); do
    addr=$(sed -n 's/.*serving model on http:\/\/\([0-9.:]*\).*/\1/p' "$work/waypoint_serve.log" | head -1)
    [ -n "$addr" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -n "$addr" ]; then
    start_relay "${addr##*:}" 0
    run_load waypoint "$relay_port"
    stop_server "$relay_pid"
  else
    echo "warning: waypoint serve did not start:" >&2; tail -10 "$work/waypoint_serve.log" >&2
  fi
  stop_server "$server_pid"

  "$PYTHON" - "$work" "$SERVED_CONCURRENCY" <<'EOF'
import json, sys
work, cs = sys.argv[1], sys.argv[2].split()
def load(engine, c):
    try:
        with open(f"{work}/served.{engine}.{c}.json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}
fmt = lambda x: f"{x:12.2f}" if x is not None else "         n/a"
print()
print("served: output tokens/s (waypoint bench, random 128 in / 128 out; failed requests in brackets)")
print(f"{'concurrency':<12}{'llama.cpp':>12}{'waypoint':>12}{'ratio wp/llama':>16}")
for c in cs:
    lj, wj = load("llama.cpp", c), load("waypoint", c)
    l, w = lj.get("output_throughput"), wj.get("output_throughput")
    ratio = f"{w / l:16.3f}" if (l and w) else "             n/a"
    fails = [j.get("failed", 0) for j in (lj, wj)]
    note = f"  [failed {fails[0]} / {fails[1]}]" if any(fails) else ""
    print(f"{c:<12}{fmt(l)}{fmt(w)}{ratio}{note}")
# Serving overhead: one request's decode rate through HTTP, core and worker,
# against the bare forward pass (BM_ModelDir decode:1) timed above.
w1 = load("waypoint", "1").get("mean_tpot_ms") if "1" in cs else None
try:
    with open(f"{work}/tg128.txt") as f:
        bare = float(f.read())
except (OSError, ValueError):
    bare = None
if w1 and bare:
    print(f"waypoint batch-1 decode: served {1000 / w1:.2f} tok/s (1000 / mean TPOT {w1:.2f} ms), "
          f"in-process {bare:.2f} tok/s, served / in-process {1000 / w1 / bare:.3f}")
EOF
fi
