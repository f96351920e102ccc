#!/usr/bin/env bash
# Soak: many concurrent streaming clients against one `cairn serve` for a long time.
#
#   bench/soak.sh [MINUTES] [CLIENTS]        (defaults: 30 minutes, 50 clients)
#
# The server runs the small chat model (SmolLM2-135M) with models.max_concurrent = 2 and
# the demo corpus (docs/) ingested, on loopback, auth off. Each client loops until the
# deadline: a streamed chat completion (9 in 10) or a streamed grounded answer (1 in 10),
# each bounded by max_tokens and a client timeout. Reported (bench/soak_client.py):
# errors by kind, queue wait (the server's x-queue-wait-ms header) and time to first
# token p50/p99, requests served; the server's RSS is sampled every 10 s, and the run
# passes when RSS is flat (mean of the last 10 minutes within 5% of minutes 5-15).
#
# Environment: SOAK_PROFILE=release|debug (default release), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-30}
clients=${2:-50}
profile=${SOAK_PROFILE:-release}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}
WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

scripts/fetch-models.sh minilm smollm2
PY=$(scripts/python-env.sh | tail -n 1)
if [ "$profile" = release ]; then
  cargo build --release --locked -p cairn
else
  cargo build --locked -p cairn
fi
CAIRN="$CARGO_TARGET_DIR/$profile/cairn"
echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); build: $profile"

cat > "$WORK/cairn.toml" <<TOML
data_dir = "$WORK/data"
[models]
generator = "smollm2-135m-instruct"
max_concurrent = 2
max_queued = 256
[server]
request_timeout_secs = 600
max_streams_per_key = 256
[limits]
key_rpm = 0.0
key_tpm = 0.0
tenant_rpm = 0.0
tenant_tpm = 0.0
[auth]
mode = "off"
TOML
export CAIRN_CONFIG="$WORK/cairn.toml"
"$CAIRN" ingest docs --collection docs >/dev/null
"$CAIRN" serve --listen 127.0.0.1:0 --warm > "$WORK/serve.out" 2> "$WORK/serve.err" &
SERVER_PID=$!
for _ in $(seq 600); do
  grep -q "listening on" "$WORK/serve.out" 2>/dev/null && break
  sleep 0.5
done
URL=$(sed -n 's/^cairn: listening on \(http:[^ ]*\).*/\1/p' "$WORK/serve.out")
[ -n "$URL" ] || { echo "cairn serve did not start:"; cat "$WORK/serve.err"; exit 1; }
echo "== soak: $clients clients for $minutes min against $URL (pid $SERVER_PID)"
"$PY" bench/soak_client.py --url "$URL" --pid "$SERVER_PID" --minutes "$minutes" \
  --clients "$clients" --collection docs --out "$WORK/soak.json"
