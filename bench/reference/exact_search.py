"""Exact (brute-force) top-k by inner product with numpy, the reference for ANN recall and speed.

    exact_search.py VECTORS.f32 QUERIES.f32 --dim 384 [--k 10]

Raw little-endian f32 matrices (`cairn bench ann --dump DIR` writes them). Queries run one
at a time, like the ANN bench. Prints one JSON line with queries/s.
"""
import argparse, json, time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vectors")
    ap.add_argument("queries")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--k", type=int, default=10)
    a = ap.parse_args()
    data = np.fromfile(a.vectors, dtype="<f4").reshape(-1, a.dim)
    qs = np.fromfile(a.queries, dtype="<f4").reshape(-1, a.dim)
    t = time.perf_counter()
    for q in qs:
        scores = data @ q
        top = np.argpartition(-scores, a.k)[: a.k]
        top[np.argsort(-scores[top])]
    secs = time.perf_counter() - t
    print(json.dumps({"engine": "numpy-exact", "numpy": np.__version__, "n": len(data), "queries": len(qs), "qps": len(qs) / secs}))


if __name__ == "__main__":
    main()
