#!/usr/bin/env bash
# What request tracing costs (issue 17): `cairn bench traces` with the trace store on,
# then with the store and OTLP export to a real collector (the Python receiver of the
# trace-export test, decoding every request with opentelemetry-proto), each against
# tracing off in the same run. Release build; prints one JSON line per run.
#   bench/traces.sh [REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${1:-10000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}
cargo build --release --locked -p cairn >&2
BIN=$CARGO_TARGET_DIR/release/cairn
PY=$(scripts/python-env.sh | tail -n 1)
WORK=$(mktemp -d)
trap 'kill "${RX:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
export CAIRN_LOG=warn
"$BIN" bench traces --requests "$REQUESTS" --docs docs --json
"$PY" crates/cairn/tests/python/otlp_receiver.py "$WORK/spans.jsonl" > "$WORK/rx.out" &
RX=$!
for _ in $(seq 100); do
  PORT=$(awk '/^listening/ {print $2}' "$WORK/rx.out" 2>/dev/null || true)
  [ -n "$PORT" ] && break
  sleep 0.1
done
[ -n "${PORT:-}" ] || { echo "the OTLP receiver did not start" >&2; exit 1; }
"$BIN" bench traces --requests "$REQUESTS" --docs docs --json \
  --otlp-endpoint "http://127.0.0.1:$PORT/v1/traces"
echo "spans received by the collector: $(wc -l < "$WORK/spans.jsonl")" >&2
