"""Validates a dev set: fields, kinds, unique ids, pages exist in the PostgreSQL 15 manual,
and every keyword appears in at least one listed page (tags stripped, case-insensitive).
Exit status 1 on any problem.  CAIRN_PG_MANUAL overrides the corpus location.

  python3 check.py                  checks pg-dev.jsonl (the default)
  python3 check.py pg-dev2.jsonl    checks the second set: pages and keywords as above, plus
                                    that it shares no page with pg-dev.jsonl, and that the
                                    identifier-like names in unanswerable2.jsonl (snake_case
                                    words, the column of catalog.column, name() calls, psql \\commands, SQLSTATE codes) occur
                                    nowhere in the manual.
File names that do not exist as given are looked up next to this script."""
import html, json, os, pathlib, re, sys

KINDS = {"close", "paraphrase", "identifier", "two_page", "unanswerable"}
HERE = pathlib.Path(__file__).parent

def page_text(path):
    raw = path.read_text(errors="replace")
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", raw))).lower()

def resolve(name):
    p = pathlib.Path(name)
    return p if p.exists() or p.is_absolute() else HERE / name

def load(name):
    return [json.loads(l) for l in open(resolve(name)) if l.strip()]

# identifier-like terms of an unanswerable question: they must not occur in the manual
TERM_RES = [
    re.compile(r"\b[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+(?:\.[A-Za-z_]\w*)*"),  # snake_case names
    re.compile(r"\b([A-Za-z_][\w.]*)\s*\(\)"),                       # name() calls
    re.compile(r"(?<![\w\\])\\[a-z]+\b"),                            # psql meta-commands
    re.compile(r"SQLSTATE\s+([0-9A-Z]{5})\b"),                       # SQLSTATE codes
]

def terms(question):
    out = []
    for r in TERM_RES:
        for m in r.finditer(question):
            t = m.group(1) if r.groups else m.group(0)
            t = t.rsplit(".", 1)[-1] if "_" in t.rsplit(".", 1)[0] else t  # pg_class.relx: the column
            if t not in out:
                out.append(t)
    return out

def check_file(name, root, problems, counts, ids):
    for n, q in enumerate(load(name), 1):
        where = f"{name}:{n} {q.get('id')}"
        for field in ("id", "kind", "question", "pages", "keywords"):
            if field not in q:
                problems.append(f"{where}: missing field {field}")
        if q["id"] in ids:
            problems.append(f"{where}: duplicate id")
        ids.add(q["id"])
        if q["kind"] not in KINDS:
            problems.append(f"{where}: unknown kind {q['kind']}")
        counts[q["kind"]] = counts.get(q["kind"], 0) + 1
        if q["kind"] == "unanswerable" and (q["pages"] or q["keywords"]):
            problems.append(f"{where}: unanswerable needs empty pages and keywords")
        if q["kind"] == "two_page" and len(q["pages"]) != 2:
            problems.append(f"{where}: two_page needs exactly 2 pages")
        texts = []
        for p in q["pages"]:
            path = root / p
            if not path.is_file():
                problems.append(f"{where}: missing page {p}")
            else:
                texts.append(page_text(path))
        for kw in q.get("keywords", []):
            if texts and not any(kw.lower() in t for t in texts):
                problems.append(f"{where}: keyword {kw!r} not in {q['pages']}")
        if q["kind"] == "two_page" and len(texts) == 2:
            # each page must carry at least one keyword (both are needed)
            for p, t in zip(q["pages"], texts):
                if not any(kw.lower() in t for kw in q["keywords"]):
                    problems.append(f"{where}: no keyword on {p}")

def check_disjoint(name, other, problems):
    used = {p for q in load(other) for p in q["pages"]}
    for q in load(name):
        for p in q["pages"]:
            if p in used:
                problems.append(f"{name} {q['id']}: page {p} is also used by {other}")

def check_absent(name, root, problems):
    manual = {p.name: page_text(p) for p in root.glob("*.html")}
    n_terms = 0
    for q in load(name):
        ts = terms(q["question"])
        n_terms += len(ts)
        for t in ts:
            hits = [p for p, text in manual.items() if t.lower() in text]
            if hits:
                problems.append(f"{name} {q['id']}: {t!r} occurs in the manual ({', '.join(sorted(hits)[:3])})")
    print(f"{name}: {n_terms} identifier-like terms checked against {len(manual)} pages")

def main(argv):
    corpus = pathlib.Path(os.environ.get("CAIRN_PG_MANUAL", pathlib.Path.home() / ".cache/cairn/corpora/postgresql-doc-15"))
    root = corpus / "usr/share/doc/postgresql-doc-15/html"
    files = argv[1:] or ["pg-dev.jsonl"]
    problems, counts, ids = [], {}, set()
    second = any(pathlib.Path(f).name == "pg-dev2.jsonl" for f in files)
    if second and not any(pathlib.Path(f).name == "unanswerable2.jsonl" for f in files):
        files = files + ["unanswerable2.jsonl"]
    for name in files:
        check_file(name, root, problems, counts, ids)
    if second:
        check_disjoint("pg-dev2.jsonl", "pg-dev.jsonl", problems)
        check_absent("unanswerable2.jsonl", root, problems)
    for p in problems:
        print("PROBLEM", p)
    print("counts", counts, "total", sum(counts.values()))
    return 1 if problems else 0

if __name__ == "__main__":
    sys.exit(main(sys.argv))
