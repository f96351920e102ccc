#!/usr/bin/env python3
"""Checks eval/agents/tasks.jsonl against the manual and the CSV files.

For every task it checks that:
  * the fields are present and `kind`/`expect`/`tools` are well formed;
  * every quote in `evidence` (FILE.html: "..." or FILE.html [param]: "...") occurs in
    that page's text (whitespace collapsed); with [param], inside that parameter's entry
    (from its "name (type)" heading to the next parameter heading);
  * every `SQL: <query> -> <result>` in `evidence` gives exactly that result when run over
    the CSV files loaded the way the agent's `sql` tool loads them (one table per file
    stem, numeric-looking columns as numbers); rows are joined by ", ", columns by "/".
It also checks the CSV files (header, 10-60 rows, same number of cells, no empty cell).

Usage: python3 check.py [HTML_DIR]
(default HTML_DIR: ~/.cache/cairn/corpora/postgresql-doc-15/usr/share/doc/postgresql-doc-15/html)
"""
import csv
import glob
import json
import os
import re
import sqlite3
import sys
from collections import Counter
from html.parser import HTMLParser

HERE = os.path.dirname(os.path.abspath(__file__))
HTML_DIR = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser(
    "~/.cache/cairn/corpora/postgresql-doc-15/usr/share/doc/postgresql-doc-15/html")
KINDS = {"compare_defaults", "compute_table", "follow_reference", "manual_plus_table", "multi_fact"}
TOOLS = {"search", "ask", "get_document", "calculator", "sql"}
BLOCK = {"p", "div", "dt", "dd", "li", "tr", "td", "th", "br", "h1", "h2", "h3", "h4", "pre", "table"}
PARAM_HEAD = r"(?<![\w.]){} \((?:integer|real|floating point|enum|boolean|string)\)"


class Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.out, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
        if tag in BLOCK:
            self.out.append(" ")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.out.append(data)


_pages = {}


def page(name):
    if name not in _pages:
        p = Text()
        with open(os.path.join(HTML_DIR, name), encoding="utf-8") as f:
            p.feed(f.read())
        _pages[name] = re.sub(r"\s+", " ", "".join(p.out).replace("\xa0", " "))
    return _pages[name]


def param_section(text, param):
    m = re.search(PARAM_HEAD.format(re.escape(param)), text)
    if not m:
        return None
    nxt = re.search(PARAM_HEAD.format(r"[\w.]+"), text[m.end():])
    return text[m.start(): m.end() + (nxt.start() if nxt else len(text))]


def load_tables():
    db = sqlite3.connect(":memory:")
    problems = []
    for path in sorted(glob.glob(os.path.join(HERE, "data", "*.csv"))):
        stem = os.path.basename(path)[:-4]
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        head, body = rows[0], rows[1:]
        if not 10 <= len(body) <= 60:
            problems.append(f"{stem}: {len(body)} rows")
        for i, r in enumerate(body, 2):
            if len(r) != len(head) or any(c.strip() == "" for c in r):
                problems.append(f"{stem}.csv line {i}: wrong cell count or empty cell")
        types = []
        for i in range(len(head)):
            try:
                [float(r[i]) for r in body]
                types.append("REAL" if any("." in r[i] for r in body) else "INTEGER")
            except ValueError:
                types.append("TEXT")
        cols = ", ".join(f'"{c}" {t}' for c, t in zip(head, types))
        db.execute(f'CREATE TABLE "{stem}" ({cols})')
        conv = {"REAL": float, "INTEGER": int, "TEXT": str}
        db.executemany(f'INSERT INTO "{stem}" VALUES ({", ".join("?" * len(head))})',
                       [[conv[t](v) for v, t in zip(r, types)] for r in body])
    return db, problems


def fmt(rows):
    return ", ".join("/".join(str(v) for v in row) for row in rows)


def main():
    db, problems = load_tables()
    tasks = [json.loads(line) for line in open(os.path.join(HERE, "tasks.jsonl")) if line.strip()]
    ids = Counter(t["id"] for t in tasks)
    problems += [f"duplicate id {i}" for i, n in ids.items() if n > 1]
    for t in tasks:
        tid = t.get("id", "?")
        for field in ("id", "kind", "task", "expect", "tools", "evidence"):
            if field not in t:
                problems.append(f"{tid}: no {field}")
        if t.get("kind") not in KINDS:
            problems.append(f"{tid}: kind {t.get('kind')}")
        if not set(t.get("tools", [])) <= TOOLS:
            problems.append(f"{tid}: unknown tool in {t.get('tools')}")
        e = t.get("expect", {})
        ok = (set(e) == {"number", "tolerance"} and isinstance(e["number"], (int, float))) or \
             (set(e) == {"all"} and e["all"]) or (set(e) == {"any"} and e["any"])
        if not ok:
            problems.append(f"{tid}: bad expect {e}")
        ev = t.get("evidence", "")
        quotes = re.findall(r'([\w.-]+\.html)(?: \[([\w.]+)\])?: "([^"]*)"', ev)
        sqls = re.findall(r"SQL: (.+?) -> (.+?)(?= ; |$)", ev)
        if not quotes and not sqls:
            problems.append(f"{tid}: evidence has no quote and no SQL")
        for fname, param, quote in quotes:
            if not os.path.exists(os.path.join(HTML_DIR, fname)):
                problems.append(f"{tid}: no page {fname}")
                continue
            text = page(fname)
            where = text
            if param:
                where = param_section(text, param)
                if where is None:
                    problems.append(f"{tid}: {fname} has no entry for {param}")
                    continue
            if quote not in where:
                problems.append(f"{tid}: {fname}{' [' + param + ']' if param else ''} lacks: {quote}")
        for query, want in sqls:
            try:
                got = fmt(db.execute(query).fetchall())
            except sqlite3.Error as err:
                problems.append(f"{tid}: SQL error {err}: {query}")
                continue
            if got != want.strip():
                problems.append(f"{tid}: SQL gave {got!r}, evidence says {want.strip()!r}")
    print(f"{len(tasks)} tasks:", dict(sorted(Counter(t['kind'] for t in tasks).items())))
    for p in problems:
        print("PROBLEM:", p)
    print("ok" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
