#!/usr/bin/env bash
# Do rankings of retrieval configurations on a synthetic dev set agree with rankings on
# the hand-written one? Writes a synthetic set over the PostgreSQL 15 manual with
# `cairn eval synth` (the default chat model), runs the same configurations on it and on
# eval/retrieval/pg-dev.jsonl, and prints Spearman's rank correlation of their MRR@10.
#
#   bench/synth_agreement.sh [N]        (N synthetic questions, default 64)
#
# The manual is ingested once into $CAIRN_BENCH_DATA (as bench/retrieval.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-64}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}
export CAIRN_DATA_DIR=${CAIRN_BENCH_DATA:-$HOME/.cache/cairn/bench-data}
HTML=${CAIRN_PG_MANUAL:-$HOME/.cache/cairn/corpora/postgresql-doc-15}/usr/share/doc/postgresql-doc-15/html
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
scripts/fetch-models.sh minilm qwen-coder
cargo build --release --locked -p cairn
CAIRN="$CARGO_TARGET_DIR/release/cairn"
[ -f "$HTML/index.html" ] || { echo "no manual under $HTML: run bench/retrieval.sh first" >&2; exit 1; }
"$CAIRN" ingest "$HTML" --collection pg >/dev/null
echo "== synthetic set: $N questions"
"$CAIRN" eval synth -c pg -n "$N" --seed 42 --out "$WORK/synth.jsonl"
# Eleven configurations: three modes at three candidate depths, and MaxSim reranking.
run() { # set out
  for c in 10 30 100; do
    "$CAIRN" --json eval retrieval "$1" -c pg --configs lexical,dense,hybrid --candidates "$c" \
      --no-store | python3 -c "import json,sys; d=json.load(sys.stdin); [print(json.dumps({'config': s['config']+'@c$c', 'mrr': s['metrics']['mrr_10']})) for s in d['summary'] if s['kind']=='all']"
  done
  "$CAIRN" --json eval retrieval "$1" -c pg --configs dense+maxsim,hybrid+maxsim --no-store \
    | python3 -c "import json,sys; d=json.load(sys.stdin); [print(json.dumps({'config': s['config'], 'mrr': s['metrics']['mrr_10']})) for s in d['summary'] if s['kind']=='all']"
}
run eval/retrieval/pg-dev.jsonl > "$WORK/dev.jsonl"
run "$WORK/synth.jsonl" > "$WORK/syn.jsonl"
python3 - "$WORK/dev.jsonl" "$WORK/syn.jsonl" <<'PY'
import json, sys
def load(p): return {r["config"]: r["mrr"] for r in map(json.loads, open(p))}
dev, syn = load(sys.argv[1]), load(sys.argv[2])
configs = sorted(dev)
def ranks(v):
    order = sorted(range(len(v)), key=lambda i: v[i])
    r = [0.0] * len(v); i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]: j += 1
        for k in range(i, j + 1): r[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return r
a, b = ranks([dev[c] for c in configs]), ranks([syn[c] for c in configs])
n = len(configs); ma, mb = sum(a) / n, sum(b) / n
cov = sum((x - ma) * (y - mb) for x, y in zip(a, b))
rho = cov / (sum((x - ma) ** 2 for x in a) * sum((y - mb) ** 2 for y in b)) ** 0.5
print(f"{'config':<22} {'pg-dev MRR':>10} {'synthetic MRR':>13}")
for c in configs: print(f"{c:<22} {dev[c]:>10.3f} {syn[c]:>13.3f}")
print(f"Spearman rho over {n} configurations: {rho:.3f}")
PY
