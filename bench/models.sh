#!/usr/bin/env bash
# Model benchmarks: Cairn (candle) against the reference implementations on the same
# machine, same models, same inputs, same thread count, one after the other.
#   embeddings: sentence-transformers, all-MiniLM-L6-v2, bench/texts/embed-texts.txt
#   generation: llama.cpp (llama-cpp-python), SmolLM2-135M Q4_1 and Qwen2.5-Coder-1.5B Q4_K_M,
#               against Cairn on both GGUF backends (llama.cpp, the default, and candle)
# Prints one JSON line per run and a Markdown table for bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}
M=${CAIRN_MODELS_DIR:-$HOME/.cache/cairn/models}
THREADS=${THREADS:-$(nproc)}
V=$(bash bench/reference/setup.sh | tail -1)
scripts/fetch-models.sh minilm smollm2 qwen-coder >/dev/null
cargo build --release --locked -p cairn >/dev/null
CAIRN="$CARGO_TARGET_DIR/release/cairn"
OUT=$(mktemp -d)
export RAYON_NUM_THREADS=$THREADS
# SmolLM2 is Q4_1, which candle re-quantizes to Q8_0 by default (see docs/models.md).
export CAIRN_MODELS__REQUANT=${CAIRN_MODELS__REQUANT:-q8_0}
run() { echo "+ $*" >&2; "$@" | tail -1 | tee -a "$OUT/results.jsonl"; }

run "$V/bin/python" bench/reference/embed_throughput.py --model "$M/all-minilm-l6-v2" \
  --texts bench/texts/embed-texts.txt --threads "$THREADS"
run "$CAIRN" bench embed --texts bench/texts/embed-texts.txt
for model in smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf \
             qwen2.5-coder-1.5b-instruct/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf; do
  run "$V/bin/python" bench/reference/llama_throughput.py --model "$M/$model" --threads "$THREADS" \
    --prompt-tokens 512 --gen-tokens 128
  for backend in llama.cpp candle; do
    CAIRN_MODELS__BACKEND=$backend run "$CAIRN" bench generate --model "$M/$model" \
      --prompt-tokens 512 --gen-tokens 128 --concurrency 2
  done
done
run "$CAIRN" bench memory

python3 - "$OUT/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
emb = [r for r in rows if "texts_per_s" in r]
print("\n| embeddings | texts/s | ratio |\n|---|---|---|")
for r in emb:
    print(f"| {r['impl']} | {r['texts_per_s']:.1f} | {r['texts_per_s'] / emb[0]['texts_per_s']:.2f}x |")
gen = [r for r in rows if "prompt_tokens_per_s" in r]
print("\n| generation | model | prompt tok/s | decode tok/s | decode ratio | peak RSS MB |\n|---|---|---|---|---|---|")
for i in range(0, len(gen), 3):
    ref = gen[i]
    for r in gen[i:i + 3]:
        ratio = r["decode_tokens_per_s"] / ref["decode_tokens_per_s"]
        print(f"| {r['impl']} | {r['model']} | {r['prompt_tokens_per_s']:.1f} | {r['decode_tokens_per_s']:.1f} | {ratio:.2f}x | {r['peak_rss_mb']:.0f} |")
    for ours in gen[i + 1:i + 3]:
        if ours.get("aggregate_decode_tokens_per_s"):
            print(f"| {ours['impl']}, {ours['concurrency']} concurrent streams | {ours['model']} | | {ours['aggregate_decode_tokens_per_s']:.1f} (aggregate) | | |")
mem = [r for r in rows if "embedder" in r]
for r in mem:
    print(f"\nPeak RSS with {r['embedder']} and {r['generator']} loaded and used: {r['peak_rss_mb']:.0f} MB")
PY
