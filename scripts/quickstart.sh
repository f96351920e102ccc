#!/usr/bin/env bash
# The main job on embedded defaults: fetch the models (MiniLM embeddings, the default
# chat model Qwen2.5-Coder-1.5B), build cairn (release), ingest the project's own docs/
# (the demo corpus) into the `cairn-docs` collection, print the ingest report, and stream
# a hybrid search and an answer from the local chat model. Safe to re-run: unchanged files do no work the
# second time.
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
echo "[quickstart] the local chat model (candle, CPU):" >&2
"$CAIRN" generate --temperature 0 --max-tokens 96 \
  "In two sentences, what is a write-ahead log in a database?"
