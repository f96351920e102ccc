"""Validates a dev set: fields, kinds, unique ids, pages exist in the PostgreSQL 15 manual,
and every keyword appears in at least one listed page (tags stripped, case-insensitive).
Exit status 1 on any problem.  CAIRN_PG_MANUAL overrides the corpus location."""
import html, json, os, pathlib, re, sys

KINDS = {"close", "paraphrase", "identifier", "two_page", "unanswerable"}

def page_text(path):
    raw = path.read_text(errors="replace")
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", raw))).lower()

def main(argv):
    corpus = pathlib.Path(os.environ.get("CAIRN_PG_MANUAL", pathlib.Path.home() / ".cache/cairn/corpora/postgresql-doc-15"))
    root = corpus / "usr/share/doc/postgresql-doc-15/html"
    files = argv[1:] or [str(pathlib.Path(__file__).parent / "pg-dev.jsonl")]
    problems, counts, ids = [], {}, set()
    for name in files:
        for n, line in enumerate(open(name), 1):
            if not line.strip():
                continue
            q = json.loads(line)
            where = f"{name}:{n} {q.get('id')}"
            if q["id"] in ids:
                problems.append(f"{where}: duplicate id")
            ids.add(q["id"])
            if q["kind"] not in KINDS:
                problems.append(f"{where}: unknown kind {q['kind']}")
            counts[q["kind"]] = counts.get(q["kind"], 0) + 1
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
    for p in problems:
        print("PROBLEM", p)
    print("counts", counts, "total", sum(counts.values()))
    return 1 if problems else 0

if __name__ == "__main__":
    sys.exit(main(sys.argv))
