#!/usr/bin/env bash
# Agent task suite (eval/agents/tasks.jsonl, 47 multi-step tasks over the PostgreSQL 15
# manual and five CSV files): the `analyst` agent against a plain `ask`, with the local
# default model (Qwen2.5-Coder-1.5B). Results: bench/agents-results.jsonl and a table.
#
#   bench/agents.sh [--limit N] [--kinds compare_defaults,...] [--skip-ask]
#
# Builds cairn in release mode, ingests the manual (collection `pg`) and the CSVs
# (`tables`) into $CAIRN_AGENT_BENCH (default ~/.cache/cairn/agent-bench, kept between
# runs: an unchanged corpus is not ingested again), then runs bench/agents.py.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}
HOME_DIR=${CAIRN_AGENT_BENCH:-$HOME/.cache/cairn/agent-bench}
CORPUS=${CAIRN_PG_MANUAL:-$HOME/.cache/cairn/corpora/postgresql-doc-15}
HTML="$CORPUS/usr/share/doc/postgresql-doc-15/html"
if [ ! -f "$HTML/index.html" ]; then
  echo "[agents] the PostgreSQL manual is missing: run bench/pg-manual.sh once to fetch it" >&2
  exit 1
fi
scripts/fetch-models.sh minilm qwen-coder
cargo build --release --locked -p cairn
CAIRN="$CARGO_TARGET_DIR/release/cairn"
mkdir -p "$HOME_DIR"
cat > "$HOME_DIR/cairn.toml" <<'TOML'
[[agents]]
name = "analyst"
description = "answers questions about PostgreSQL from its manual and the ops tables"
instructions = "You answer questions about PostgreSQL 15 and our servers. The manual is the collection `pg`; our ops data (servers, table_stats, replication_slots, monthly_costs, incidents) are tables for the sql tool."
tools = ["search", "get_document", "calculator", "sql"]
collections = ["pg", "tables"]
max_steps = 8
max_tool_calls = 10
max_turn_tokens = 320
TOML
export CAIRN_CONFIG="$HOME_DIR/cairn.toml" CAIRN_DATA_DIR="$HOME_DIR/data"
"$CAIRN" ingest "$HTML" --collection pg
"$CAIRN" ingest eval/agents/data --collection tables
echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
OUT=bench/agents-results.jsonl
: > "$OUT"
python3 bench/agents.py --cairn "$CAIRN" --home "$HOME_DIR" --out "$OUT" "$@"
