#!/usr/bin/env bash
# Ingest benchmark on a realistic corpus: the PostgreSQL 15 HTML manual from Debian's
# postgresql-doc-15 package (~1,169 pages with Prev/Up/Next navigation, tables of contents
# and a 139k-character back-of-book index).
#
#   bench/pg-manual.sh [--workers N]
#
# Builds cairn in release mode, ingests the manual into a fresh data dir, prints the
# report (pages/s, chunks, quality findings) as text and JSON, re-runs to show that an
# unchanged corpus does no work, and spot-checks chunks for navigation text.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}
CORPUS=${CAIRN_PG_MANUAL:-$HOME/.cache/cairn/corpora/postgresql-doc-15}
HTML="$CORPUS/usr/share/doc/postgresql-doc-15/html"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if [ ! -f "$HTML/index.html" ]; then
  echo "[pg-manual] fetching postgresql-doc-15 from Debian" >&2
  mkdir -p "$CORPUS"
  (cd "$WORK" && apt-get download postgresql-doc-15 >/dev/null 2>&1 || { apt-get update -qq && apt-get download postgresql-doc-15; })
  dpkg -x "$WORK"/postgresql-doc-15_*.deb "$CORPUS"
fi
echo "[pg-manual] corpus: $(ls "$HTML"/*.html | wc -l) HTML pages in $HTML" >&2

scripts/fetch-models.sh minilm
cargo build --release --locked -p cairn
CAIRN="$CARGO_TARGET_DIR/release/cairn"
export CAIRN_DATA_DIR="$WORK/data"

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "== first ingest"
"$CAIRN" ingest "$HTML" --collection pg "$@"
"$CAIRN" --json ingest "$HTML" --collection pg-json "$@" > "$WORK/report.json"
python3 - "$WORK/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
docs = r["added"] + r["updated"] + r["touched"] + len(r["skipped"])
secs = r["elapsed_ms"] / 1000
print(f"== JSON run: {r['files_seen']} files, {docs} docs in {secs:.1f}s = {docs/secs:.1f} pages/s, "
      f"{r['chunks_written']} chunks, {len(r['failed'])} failed, {len(r['near_empty'])} near-empty, "
      f"{len(r['mostly_links'])} mostly-links, {len(r['duplicates'])} exact dups, {len(r['near_duplicates'])} near-dups")
PY
echo "== second ingest (unchanged corpus: expect no work)"
"$CAIRN" ingest "$HTML" --collection pg "$@"

echo "== navigation spot-check over all stored chunks"
python3 - "$CAIRN_DATA_DIR/cairn.db" <<'PY'
import sqlite3, sys, re
db = sqlite3.connect(sys.argv[1])
rows = db.execute("select text from chunks where tenant_id='default' and collection_id='pg'").fetchall()
nav = re.compile(r"\bPrev\b.*\bNext\b|\bPrev\s+Up\b|\bUp\s+Next\b|\bHome\s+Next\b", re.S)
hits = [t for (t,) in rows if nav.search(t)]
print(f"chunks: {len(rows)}; chunks with Prev/Up/Next navigation text: {len(hits)}")
for t in hits[:3]:
    print("  e.g.:", t[:200].replace("\n", " "))
PY
