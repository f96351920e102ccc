"""Replica lag: a document uploaded through server A, searchable through server B.

    python3 bench/replica_lag.py URL_A URL_B KEY [--uploads 20] [--collection lag]

Each upload is a short page with a word no other page has. The clock starts when A
acknowledges the upload (201: committed to the shared store) and stops when B's search
returns the page first; B polls every 20 ms. Prints one JSON line: the upload times and
the lag p50/p95/max in ms. Standard library only.
"""

import argparse
import json
import time
import urllib.error
import urllib.request
import uuid


def call(method, url, key, body=None, headers=None):
    req = urllib.request.Request(url, method=method, data=body)
    req.add_header("Authorization", f"Bearer {key}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.status, json.loads(r.read() or b"null")


def upload(base, key, collection, name, text):
    boundary = uuid.uuid4().hex
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
        f"Content-Type: text/markdown\r\n\r\n{text}\r\n--{boundary}--\r\n"
    ).encode()
    return call(
        "POST",
        f"{base}/api/v1/collections/{collection}/documents",
        key,
        body,
        {"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )


def top_text(base, key, collection, query):
    body = json.dumps({"collection": collection, "query": query, "top_k": 1, "mode": "lexical"})
    _, r = call("POST", f"{base}/api/v1/search", key, body.encode(), {"Content-Type": "application/json"})
    hits = r.get("hits") or []
    return hits[0]["text"] if hits else ""


def pct(xs, p):
    xs = sorted(xs)
    return xs[round((len(xs) - 1) * p)] if xs else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("key")
    ap.add_argument("--uploads", type=int, default=20)
    ap.add_argument("--collection", default="lag")
    args = ap.parse_args()
    try:
        call("POST", f"{args.a}/api/v1/collections", args.key,
             json.dumps({"id": args.collection}).encode(), {"Content-Type": "application/json"})
    except urllib.error.HTTPError as e:
        if e.code != 409:
            raise
    lags, uploads = [], []
    for i in range(args.uploads):
        word = f"zq{uuid.uuid4().hex[:10]}"
        # A page of ordinary length (before this session's fix, uploads under
        # ingest.quality.min_chars were stored as skipped and never searchable).
        text = (f"# Note {i}\n\nThe courier {word} delivers parcel number {i} to the harbour "
                "office every weekday morning. The office signs for it, stamps the delivery "
                "book and files the receipt with the week's other receipts, which the "
                "accountant collects on Fridays and reconciles with the courier's invoice.\n")
        t0 = time.monotonic()
        status, _ = upload(args.a, args.key, args.collection, f"note-{i}-{word}.md", text)
        acked = time.monotonic()
        if status not in (200, 201):
            raise SystemExit(f"upload {i}: HTTP {status}")
        uploads.append((acked - t0) * 1e3)
        while word not in top_text(args.b, args.key, args.collection, word):
            if time.monotonic() - acked > 60:
                raise SystemExit(f"upload {i} never became searchable through B")
            time.sleep(0.02)
        lags.append((time.monotonic() - acked) * 1e3)
    print(json.dumps({
        "bench": "replica_lag", "uploads": args.uploads,
        "upload_ms_p50": round(pct(uploads, 0.5), 1),
        "lag_ms_p50": round(pct(lags, 0.5), 1), "lag_ms_p95": round(pct(lags, 0.95), 1),
        "lag_ms_max": round(max(lags), 1),
    }))


if __name__ == "__main__":
    main()
