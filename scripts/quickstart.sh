#!/usr/bin/env bash
# The main job on embedded defaults: fetch the models (MiniLM embeddings, the default
# chat model Qwen2.5-Coder-1.5B), build cairn (release), ingest the project's own docs/
# (the demo corpus) into the `cairn-docs` collection, print the ingest report and a hybrid
# search, then start `cairn serve` and print a grounded answer with citations from it
# (`cairn ask --url`). Safe to re-run: unchanged files do no work the second time.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}
export CAIRN_DATA_DIR=${CAIRN_DATA_DIR:-$HOME/.local/share/cairn}

scripts/bootstrap.sh
scripts/fetch-models.sh minilm qwen-coder
echo "[quickstart] building cairn (release; the first build takes a while)" >&2
cargo build --release --locked -p cairn
CAIRN="$CARGO_TARGET_DIR/release/cairn"

"$CAIRN" ingest docs --collection cairn-docs --sync
echo
"$CAIRN" collections show cairn-docs
echo
"$CAIRN" docs list --collection cairn-docs
echo
echo "[quickstart] hybrid search (BM25 + HNSW, fused):" >&2
"$CAIRN" search "how are unchanged files detected?" --collection cairn-docs -k 3 --explain
echo
# The server with the demo corpus: start `cairn serve` (models loaded first, any free
# port), ask it a question over HTTP with an API key, print the cited answer, stop it.
# Every API route needs a key or a JWT; this one is a member key of the default
# tenant, created for this run and revoked at the end.
KEY_JSON=$("$CAIRN" --json keys create --name quickstart --role member)
KEY=$(printf '%s' "$KEY_JSON" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
KEY_ID=$(printf '%s' "$KEY_JSON" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"]["id"])')
LOG=$(mktemp)
"$CAIRN" serve --listen "${CAIRN_LISTEN:-127.0.0.1:0}" --warm >"$LOG" &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; rm -f "$LOG"' EXIT
echo "[quickstart] starting cairn serve (loading the models)" >&2
for _ in $(seq 1 600); do
  grep -q "listening on" "$LOG" && break
  kill -0 "$SERVER" 2>/dev/null || { echo "[quickstart] cairn serve exited" >&2; exit 1; }
  sleep 0.5
done
URL=$(sed -n 's/^cairn: listening on \(http:[^ ]*\).*/\1/p' "$LOG" | head -n 1)
[ -n "$URL" ] || { echo "[quickstart] cairn serve did not start" >&2; exit 1; }
cat "$LOG"
echo "[quickstart] asking the server ($URL/api/v1/ask, streamed):" >&2
CAIRN_API_KEY="$KEY" "$CAIRN" ask --url "$URL" --collection cairn-docs \
  "How does Cairn detect that a file has not changed since the last ingest?"
kill -TERM "$SERVER"
"$CAIRN" keys revoke "$KEY_ID" >/dev/null
wait "$SERVER" || true
trap - EXIT
rm -f "$LOG"
