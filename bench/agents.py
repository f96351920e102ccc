#!/usr/bin/env python3
"""Agent task suite: eval/agents/tasks.jsonl run by an agent and by a plain `ask`.

    bench/agents.sh                      # builds, ingests, runs everything (see there)
    bench/agents.py --cairn BIN --home DIR [--limit N] [--kinds a,b] [--out FILE]

DIR holds cairn.toml (the agents) and data/ with the collections `pg` (the PostgreSQL 15
manual) and `tables` (eval/agents/data/*.csv). For each task:

- the agent `analyst` (ReAct; search, get_document, calculator, sql) runs it with
  `cairn --json agent run`: its final answer, model turns, tool calls, tokens, cost and
  wall time, and the run id (its trajectory: `cairn agent show RUN`);
- the baseline is one grounded answer with `cairn --json ask` from `tables` for the
  table-only kind and from `pg` for the others (an ask reads one collection).

An answer passes when it satisfies the task's `expect` (a number within its relative
tolerance, read with thousands separators and units attached; or substrings, all or
any, case-insensitive). Results go to a JSON-lines file, a summary per kind to stdout as
a Markdown table.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict

NUMBER = re.compile(r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?")


def numbers(text):
    out = []
    for m in NUMBER.finditer(text):
        try:
            out.append(float(m.group(0).replace(",", "")))
        except ValueError:
            pass
    return out


def passes(expect, answer):
    a = (answer or "").lower()
    if "number" in expect:
        want = float(expect["number"])
        tol = float(expect.get("tolerance", 0.01))
        return any(abs(n - want) <= max(abs(want) * tol, 1e-9) for n in numbers(answer or ""))
    if "all" in expect:
        return all(s.lower() in a for s in expect["all"])
    if "any" in expect:
        return any(s.lower() in a for s in expect["any"])
    raise ValueError(f"unknown expect {expect}")


def cairn(args, home, timeout):
    env = dict(os.environ, CAIRN_CONFIG=os.path.join(home, "cairn.toml"), CAIRN_DATA_DIR=os.path.join(home, "data"))
    start = time.time()
    p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    secs = time.time() - start
    try:
        body = json.loads(p.stdout) if p.stdout.strip() else {}
    except json.JSONDecodeError:
        body = {"raw": p.stdout}
    return body, secs, p.returncode, p.stderr[-2000:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cairn", required=True)
    ap.add_argument("--home", required=True)
    ap.add_argument("--tasks", default=os.path.join(os.path.dirname(__file__), "..", "eval", "agents", "tasks.jsonl"))
    ap.add_argument("--agent", default="analyst")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--kinds", default="")
    ap.add_argument("--skip-ask", action="store_true")
    ap.add_argument("--out", default="agents-results.jsonl")
    ap.add_argument("--timeout", type=int, default=900)
    args = ap.parse_args()

    tasks = [json.loads(l) for l in open(args.tasks) if l.strip()]
    if args.kinds:
        keep = set(args.kinds.split(","))
        tasks = [t for t in tasks if t["kind"] in keep]
    if args.limit:
        tasks = tasks[: args.limit]
    out = open(args.out, "a")
    rows = []
    for i, t in enumerate(tasks, 1):
        run, secs, code, err = cairn([args.cairn, "--json", "agent", "run", args.agent, t["task"]], args.home, args.timeout)
        usage = run.get("usage") or {}
        row = {
            "id": t["id"], "kind": t["kind"], "system": "agent", "run": run.get("id"),
            "state": run.get("state"), "reason": run.get("reason"), "answer": run.get("output"),
            # The answer the caller gets: a run stopped by a turn, call or loop limit
            # answers from what it found in one last turn without tools.
            # (A run that found nothing to answer from ends with a digest of its calls,
            # which is not scored as an answer.)
            "ok": (run.get("state") == "succeeded"
                   or (run.get("reason") or "").endswith("it answered from what it had"))
                  and passes(t["expect"], run.get("output")),
            "steps": usage.get("steps", 0), "tool_calls": usage.get("tool_calls", 0),
            "tokens": usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0),
            "cost_usd": usage.get("cost_usd", 0.0), "seconds": round(secs, 1),
        }
        if code not in (0, 2):
            row["error"] = err
        rows.append(row)
        out.write(json.dumps(row) + "\n")
        out.flush()
        print(f"[{i}/{len(tasks)}] {t['id']} agent {'PASS' if row['ok'] else 'fail'} "
              f"({row['state']}, {row['steps']} turns, {row['tool_calls']} calls, {row['seconds']} s)", file=sys.stderr)
        if args.skip_ask:
            continue
        coll = "tables" if t["kind"] == "compute_table" else "pg"
        ans, secs, code, err = cairn([args.cairn, "--json", "ask", "-c", coll, t["task"]], args.home, args.timeout)
        u = ans.get("usage") or {}
        row = {
            "id": t["id"], "kind": t["kind"], "system": "ask", "answer": ans.get("answer"),
            "ok": passes(t["expect"], ans.get("answer")), "steps": 1, "tool_calls": 0,
            "tokens": u.get("prompt_tokens", 0) + u.get("completion_tokens", 0),
            "cost_usd": 0.0, "seconds": round(secs, 1), "abstained": ans.get("abstained"),
        }
        if code != 0:
            row["error"] = err
        rows.append(row)
        out.write(json.dumps(row) + "\n")
        out.flush()
        print(f"[{i}/{len(tasks)}] {t['id']} ask   {'PASS' if row['ok'] else 'fail'} ({row['seconds']} s)", file=sys.stderr)

    by = defaultdict(list)
    for r in rows:
        by[(r["system"], r["kind"])].append(r)
        by[(r["system"], "all")].append(r)
    print("| system | kind | tasks | success | turns (mean) | tool calls (mean) | tokens (mean) | seconds (mean) | cost |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for (system, kind), rs in sorted(by.items()):
        n = len(rs)
        mean = lambda k: sum(r[k] for r in rs) / n
        print(f"| {system} | {kind} | {n} | {sum(r['ok'] for r in rs)}/{n} ({100 * sum(r['ok'] for r in rs) / n:.0f}%) "
              f"| {mean('steps'):.1f} | {mean('tool_calls'):.1f} | {mean('tokens'):.0f} | {mean('seconds'):.1f} | ${sum(r['cost_usd'] for r in rs):.4f} |")


if __name__ == "__main__":
    main()
