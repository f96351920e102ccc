"""Soak clients for bench/soak.sh: N concurrent streaming clients against `cairn serve`.

Each client loops until the deadline, sending a streamed chat completion (9 in 10) or a
streamed grounded answer (1 in 10) and reading the stream to its end. Measured per
request: the queue wait the server reports (`x-queue-wait-ms`), the time to the first
token, and the outcome. The server's RSS is sampled every 10 s from /proc. Prints a JSON
summary and exits 1 when RSS is not flat (mean of the last 10 minutes more than 5% off
the mean of minutes 5-15) or when a request failed with a 5xx other than 503 overloaded.
"""

import argparse
import asyncio
import json
import random
import sys
import time

import httpx

QUESTIONS = [
    "How does Cairn detect that a file has not changed since the last ingest?",
    "Which chunking strategies does Cairn offer?",
    "How are API keys stored?",
    "What does /readyz report?",
    "How do I run the test suite?",
]
PROMPTS = [
    "Write two sentences about rivers.",
    "List three colours and one fruit.",
    "Explain what a database index is in one sentence.",
    "Say hello in French and in Spanish.",
]


def pct(values, p):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, round((len(values) - 1) * p))]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def one_request(http, url, collection, rng, stats):
    chat = rng.random() < 0.9
    if chat:
        path = "/v1/chat/completions"
        body = {"model": "smollm2-135m-instruct", "stream": True, "max_tokens": 48,
                "temperature": 0.7, "seed": rng.randrange(1 << 30),
                "messages": [{"role": "user", "content": rng.choice(PROMPTS)}]}
    else:
        path = "/api/v1/ask"
        body = {"collection": collection, "question": rng.choice(QUESTIONS),
                "stream": True, "max_tokens": 48, "record": False}
    started = time.monotonic()
    first = None
    try:
        async with http.stream("POST", url + path, json=body) as res:
            if res.status_code != 200:
                text = (await res.aread()).decode(errors="replace")
                try:
                    code = json.loads(text)["error"]["code"]
                except Exception:
                    code = "unparsed"
                stats["errors"][f"{res.status_code} {code}"] = stats["errors"].get(f"{res.status_code} {code}", 0) + 1
                if res.status_code >= 500 and code != "overloaded":
                    stats["server_errors"] += 1
                if code == "overloaded":
                    await asyncio.sleep(float(res.headers.get("retry-after", "1")))
                return
            wait = res.headers.get("x-queue-wait-ms")
            if wait is not None:
                stats["wait_ms"].append(int(wait))
            event = None
            async for line in res.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                    continue
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if first is None and data != "[DONE]" and (
                        (chat and '"content"' in data) or (not chat and event == "delta")):
                    first = time.monotonic()
                if event == "error" or '"error"' in data[:12]:
                    stats["errors"]["stream error"] = stats["errors"].get("stream error", 0) + 1
            stats["ok"] += 1
            if first is not None:
                stats["ttft_ms"].append((first - started) * 1000)
            stats["total_ms"].append((time.monotonic() - started) * 1000)
    except (httpx.HTTPError, OSError) as e:
        kind = f"client {type(e).__name__}"
        stats["errors"][kind] = stats["errors"].get(kind, 0) + 1


async def client(i, url, collection, deadline, stats):
    rng = random.Random(i)
    timeout = httpx.Timeout(600.0, connect=30.0)
    async with httpx.AsyncClient(timeout=timeout) as http:
        while time.monotonic() < deadline:
            await one_request(http, url, collection, rng, stats)


async def sampler(pid, url, start, deadline, samples, readyz):
    async with httpx.AsyncClient(timeout=30.0) as http:
        while time.monotonic() < deadline:
            samples.append(((time.monotonic() - start) / 60.0, rss_kib(pid)))
            try:
                readyz.append((await http.get(url + "/readyz")).json().get("generation"))
            except (httpx.HTTPError, ValueError):
                pass
            await asyncio.sleep(10)


def mean_between(samples, lo, hi):
    vals = [kib for minute, kib in samples if lo <= minute < hi]
    return sum(vals) / len(vals) if vals else None


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--collection", default="docs")
    ap.add_argument("--out")
    a = ap.parse_args()
    stats = {"ok": 0, "server_errors": 0, "errors": {}, "wait_ms": [], "ttft_ms": [], "total_ms": []}
    samples, readyz = [], []
    start = time.monotonic()
    deadline = start + a.minutes * 60
    tasks = [asyncio.create_task(client(i, a.url, a.collection, deadline, stats)) for i in range(a.clients)]
    tasks.append(asyncio.create_task(sampler(a.pid, a.url, start, deadline, samples, readyz)))
    await asyncio.gather(*tasks)
    samples.append(((time.monotonic() - start) / 60.0, rss_kib(a.pid)))
    early = mean_between(samples, 5, 15) if a.minutes >= 20 else mean_between(samples, a.minutes / 6, a.minutes / 2)
    late = mean_between(samples, a.minutes - 10, a.minutes + 1) if a.minutes >= 20 else mean_between(samples, a.minutes * 2 / 3, a.minutes + 1)
    drift = (late - early) / early if early and late else None
    summary = {
        "minutes": a.minutes, "clients": a.clients, "requests_ok": stats["ok"],
        "errors": stats["errors"], "server_errors_5xx": stats["server_errors"],
        "queue_wait_ms": {"p50": pct(stats["wait_ms"], 0.5), "p99": pct(stats["wait_ms"], 0.99), "n": len(stats["wait_ms"])},
        "ttft_ms": {"p50": pct(stats["ttft_ms"], 0.5), "p99": pct(stats["ttft_ms"], 0.99), "n": len(stats["ttft_ms"])},
        "total_ms": {"p50": pct(stats["total_ms"], 0.5), "p99": pct(stats["total_ms"], 0.99)},
        "rss_mib": {"min": min(k for _, k in samples) / 1024, "max": max(k for _, k in samples) / 1024,
                    "early_mean": early and early / 1024, "late_mean": late and late / 1024,
                    "drift": drift},
        "rss_samples_mib": [[round(m, 2), round(k / 1024, 1)] for m, k in samples],
        "readyz_last": readyz[-1] if readyz else None,
    }
    flat = drift is not None and abs(drift) <= 0.05
    summary["rss_flat"] = flat
    text = json.dumps(summary, indent=1)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    if not flat or stats["server_errors"]:
        print("soak FAILED: " + ("RSS not flat; " if not flat else "") +
              (f"{stats['server_errors']} 5xx" if stats["server_errors"] else ""), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
