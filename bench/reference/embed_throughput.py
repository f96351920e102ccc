"""sentence-transformers embedding throughput; prints one JSON line.

Usage: embed_throughput.py --model DIR --texts FILE [--batch 32] [--threads N] [--repeat 3]
"""
import argparse
import json
import os
import resource
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--texts", required=True)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    texts = [l for l in open(a.texts).read().splitlines() if l.strip()]
    model = SentenceTransformer(a.model, device="cpu")
    model.encode(texts[: a.batch], batch_size=a.batch, normalize_embeddings=True)
    best = float("inf")
    for _ in range(a.repeat):
        t = time.perf_counter()
        model.encode(texts, batch_size=a.batch, normalize_embeddings=True)
        best = min(best, time.perf_counter() - t)
    print(json.dumps({"impl": f"sentence-transformers (torch {torch.__version__})", "texts": len(texts),
                      "threads": a.threads, "batch": a.batch, "seconds": best,
                      "texts_per_s": len(texts) / best,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
