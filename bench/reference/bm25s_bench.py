"""BM25 reference: index chunk texts with bm25s (English stop words + Snowball stemmer,
k1=1.5, b=0.75, Lucene variant) and time one query at a time.

    bm25s_bench.py CHUNKS.jsonl QUERIES.txt [--k 10] [--repeat 5]

CHUNKS.jsonl: {"id", "text"} per line (`cairn bench bm25 --dump-chunks` writes it).
Prints one JSON line: docs, queries, index_s, qps, p50_ms, p95_ms.
"""
import argparse, json, statistics, time

import bm25s
import Stemmer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("chunks")
    ap.add_argument("queries")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    ids, texts = [], []
    for line in open(a.chunks):
        row = json.loads(line)
        ids.append(row["id"])
        texts.append(row["text"])
    queries = [q.strip() for q in open(a.queries) if q.strip()]
    stemmer = Stemmer.Stemmer("english")
    t = time.perf_counter()
    retriever = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    index_s = time.perf_counter() - t
    k = min(a.k, len(texts))
    lat = []
    for round_ in range(a.repeat + 1):
        for q in queries:
            t = time.perf_counter()
            tokens = bm25s.tokenize([q], stopwords="en", stemmer=stemmer, show_progress=False)
            retriever.retrieve(tokens, k=k, show_progress=False, n_threads=1)
            if round_ > 0:  # the first round warms up
                lat.append((time.perf_counter() - t) * 1e3)
    lat.sort()
    print(json.dumps({
        "engine": "bm25s", "version": bm25s.__version__, "docs": len(texts), "queries": len(queries),
        "index_s": index_s, "qps": len(lat) * 1e3 / sum(lat),
        "p50_ms": statistics.median(lat), "p95_ms": lat[int(0.95 * (len(lat) - 1))],
    }))


if __name__ == "__main__":
    main()
