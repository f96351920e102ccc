#!/usr/bin/env bash
# Gateway overhead: what Cairn and LiteLLM's proxy add to a chat completion, at constant
# arrival rates (open loop: each request is due at start + i/rate and its latency runs
# from that due time, so queueing in a slow gateway shows).
#
#   bench/gateway.sh [SECONDS] [RATES...]      (defaults: 15 s, 500 and 2000 requests/s)
#
# Processes and cores (taskset): the fake upstream (`cairn bench upstream`, a fixed
# completion answered at once) and the load generator (`cairn bench gateway`: one
# asynchronous thread, a task per request, up to 512 keep-alive connections) on core 0; the gateway under test alone on core 1, started
# for its own runs only. For each rate: the upstream directly, then through `cairn
# serve` (remote model `bench`, auth off, rate limits off, the default guard redacting
# the prompt), then through `litellm --config` (PyPI litellm[proxy] 1.55.0, one worker,
# no master key). Added latency = the gateway's percentile minus the direct one. One
# JSON line per run goes to stdout and to bench/gateway-results.jsonl.
#
# Environment: CARGO_TARGET_DIR; LITELLM_VENV (default ~/.cache/cairn/litellm-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-15}
shift || true
rates=${*:-500 2000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}
VENV=${LITELLM_VENV:-$HOME/.cache/cairn/litellm-venv}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ ! -x "$VENV/bin/litellm" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "litellm[proxy]==1.55.0"
fi
cargo build --release --locked -p cairn
CAIRN="$CARGO_TARGET_DIR/release/cairn"
OUT=bench/gateway-results.jsonl
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(date -u +%FT%TZ)"

UP=18000
taskset -c 0 "$CAIRN" bench upstream --port "$UP" &
PIDS+=($!)

wait_for() { # url: until it answers a chat completion
  for _ in $(seq 300); do
    python3 - "$1" 2>/dev/null <<'PY' && return 0
import json, sys, urllib.request
body = json.dumps({"model": "bench", "messages": [{"role": "user", "content": "hi"}]}).encode()
req = urllib.request.Request(sys.argv[1], body, {"Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=30).read()
PY
    sleep 0.2
  done
  echo "$1 did not come up" >&2
  return 1
}

load() { # url label rate
  taskset -c 0 "$CAIRN" bench gateway --url "$1" --model bench --rps "$3" \
    --seconds "$seconds" --label "$2" | tee -a "$OUT"
}

start_cairn() {
  cat > "$WORK/cairn.toml" <<TOML
data_dir = "$WORK/data"
[auth]
mode = "off"
[limits]
key_rpm = 0.0
key_tpm = 0.0
tenant_rpm = 0.0
tenant_tpm = 0.0
[server]
max_connections = 4096
[[models.remote]]
name = "bench"
base_url = "http://127.0.0.1:$UP/v1"
model = "served"
max_retries = 0
TOML
  CAIRN_CONFIG="$WORK/cairn.toml" RUST_LOG=warn taskset -c 1 "$CAIRN" serve --listen 127.0.0.1:18080 \
    > "$WORK/cairn.out" 2> "$WORK/cairn.err" &
  CAIRN_PID=$!
  PIDS+=($CAIRN_PID)
  wait_for http://127.0.0.1:18080/v1/chat/completions
}

start_litellm() {
  cat > "$WORK/litellm.yaml" <<YAML
model_list:
  - model_name: bench
    litellm_params:
      model: openai/served
      api_base: http://127.0.0.1:$UP/v1
      api_key: sk-bench
YAML
  taskset -c 1 "$VENV/bin/litellm" --config "$WORK/litellm.yaml" --host 127.0.0.1 --port 18400 \
    --num_workers 1 > "$WORK/litellm.out" 2>&1 &
  LITELLM_PID=$!
  PIDS+=($LITELLM_PID)
  wait_for http://127.0.0.1:18400/v1/chat/completions
}

wait_for "http://127.0.0.1:$UP/v1/chat/completions"
for rate in $rates; do
  load "http://127.0.0.1:$UP/v1/chat/completions" direct "$rate"
done
start_cairn
for rate in $rates; do
  load http://127.0.0.1:18080/v1/chat/completions cairn "$rate"
done
kill "$CAIRN_PID"
start_litellm
for rate in $rates; do
  load http://127.0.0.1:18400/v1/chat/completions litellm "$rate"
done
kill "$LITELLM_PID"
