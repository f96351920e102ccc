"""Validates pairs-tune.jsonl and pairs-heldout.jsonl (the semantic-cache pair sets).

Checks: every line is a JSON object with exactly the fields id, kind, miss, a, b, page;
ids are unique and carry the file's prefix (t / h); kind is paraphrase or near_miss; miss is
null for paraphrases and one of MISSES for near misses; a != b; each page exists in the
PostgreSQL 15 manual; the two files share no page and no `a` question; an `a` is used in at
most one paraphrase and at most two near misses, and under one page only; paraphrases keep
every number of `a`, and change more than one word; `number` near misses change a number;
minimum counts per kind and per miss type are met.  Exit status 1 on any problem.
CAIRN_PG_MANUAL overrides the corpus location.

  python3 check.py
"""
import collections, difflib, json, os, pathlib, re, sys

HERE = pathlib.Path(__file__).parent
MANUAL = pathlib.Path(os.environ.get(
    "CAIRN_PG_MANUAL",
    pathlib.Path.home() / ".cache/cairn/corpora/postgresql-doc-15/usr/share/doc/postgresql-doc-15/html"))
FILES = {"tune": "t", "heldout": "h"}
FIELDS = {"id", "kind", "miss", "a", "b", "page"}
MISSES = {"number", "identifier", "negation", "entity", "operation", "scope"}
MIN_PARAPHRASE = 165
MIN_NEAR_MISS = 270
# intended share of each miss type among a file's near misses; a file must reach
# at least 80% of the intended count for every type
TARGET = {"number": .20, "identifier": .25, "negation": .12, "entity": .13,
          "operation": .18, "scope": .12}

problems = []


def bad(msg):
    problems.append(msg)


def norm(s):
    return re.sub(r"\s+", " ", s.lower()).strip(" ?.!")


def words(s):
    return re.sub(r"[^\w]+", " ", s.lower()).split()


def numbers(s, ordered=False):
    found = re.findall(r"(?<![A-Za-z_\d.])(?<![A-Za-z]-)-?\d+(?:\.\d+)*", s)
    return found if ordered else sorted(found)


def load(name):
    path = HERE / f"pairs-{name}.jsonl"
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError as e:
            bad(f"{path.name}:{n}: invalid JSON ({e})")
            continue
        if not isinstance(r, dict) or set(r) != FIELDS:
            bad(f"{path.name}:{n}: fields must be exactly {sorted(FIELDS)}")
            continue
        rows.append(r)
    return rows


def check_file(name, rows):
    prefix = FILES[name]
    ids = collections.Counter(r["id"] for r in rows)
    for i, c in ids.items():
        if c > 1:
            bad(f"{name}: duplicate id {i}")
    uses = collections.defaultdict(collections.Counter)
    a_page = {}
    seen_pairs = set()
    for r in rows:
        rid = r["id"]
        if not re.fullmatch(prefix + r"\d{4}", str(rid)):
            bad(f"{name}: id {rid!r} should look like {prefix}0001")
        for f in ("a", "b", "page"):
            if not isinstance(r[f], str) or not r[f].strip():
                bad(f"{rid}: empty or non-string {f}")
        if r["kind"] == "paraphrase":
            if r["miss"] is not None:
                bad(f"{rid}: paraphrase must have miss null")
        elif r["kind"] == "near_miss":
            if r["miss"] not in MISSES:
                bad(f"{rid}: near_miss has miss {r['miss']!r}")
        else:
            bad(f"{rid}: unknown kind {r['kind']!r}")
            continue
        a, b = r["a"], r["b"]
        if norm(a) == norm(b):
            bad(f"{rid}: a and b are the same question")
        if (norm(a), norm(b)) in seen_pairs:
            bad(f"{rid}: duplicate pair")
        seen_pairs.add((norm(a), norm(b)))
        if not (MANUAL / r["page"]).is_file():
            bad(f"{rid}: page {r['page']} not in {MANUAL}")
        if a_page.setdefault(a, r["page"]) != r["page"]:
            bad(f"{rid}: question a appears under two pages")
        uses[a][r["kind"]] += 1
        wa, wb = words(a), words(b)
        if r["kind"] == "paraphrase":
            if numbers(a) != numbers(b):
                bad(f"{rid}: paraphrase changes the numbers {numbers(a)} -> {numbers(b)}")
            ops = [op for op in difflib.SequenceMatcher(None, wa, wb).get_opcodes() if op[0] != "equal"]
            changed = sum(max(i2 - i1, j2 - j1) for _, i1, i2, j1, j2 in ops)
            if changed <= 1:
                bad(f"{rid}: paraphrase changes only one word")
        elif r["miss"] == "number" and numbers(a, True) == numbers(b, True):
            bad(f"{rid}: number near miss does not change a number")
    for a, c in uses.items():
        if c["paraphrase"] > 1:
            bad(f"{name}: a used in {c['paraphrase']} paraphrase pairs: {a}")
        if c["near_miss"] > 2:
            bad(f"{name}: a used in {c['near_miss']} near-miss pairs: {a}")
    kinds = collections.Counter(r["kind"] for r in rows)
    misses = collections.Counter(r["miss"] for r in rows if r["kind"] == "near_miss")
    if kinds["paraphrase"] < MIN_PARAPHRASE:
        bad(f"{name}: {kinds['paraphrase']} paraphrase pairs, need {MIN_PARAPHRASE}")
    if kinds["near_miss"] < MIN_NEAR_MISS:
        bad(f"{name}: {kinds['near_miss']} near-miss pairs, need {MIN_NEAR_MISS}")
    nm = max(kinds["near_miss"], MIN_NEAR_MISS)
    for m, share in TARGET.items():
        need = int(0.8 * share * nm)
        if misses[m] < need:
            bad(f"{name}: {misses[m]} `{m}` near misses, need at least {need}")
    pages = {r["page"] for r in rows}
    print(f"{name}: {len(rows)} pairs, {len(pages)} pages, {len(uses)} distinct a; "
          f"paraphrase {kinds['paraphrase']}, near_miss {kinds['near_miss']}")
    for m in TARGET:
        print(f"  {m:<10} {misses[m]:4d}  ({100 * misses[m] / max(1, kinds['near_miss']):4.1f}%,"
              f" target {100 * TARGET[m]:.0f}%)")
    return pages, set(uses)


def main():
    if not MANUAL.is_dir():
        sys.exit(f"manual not found at {MANUAL} (set CAIRN_PG_MANUAL)")
    got = {name: check_file(name, load(name)) for name in FILES}
    shared = got["tune"][0] & got["heldout"][0]
    if shared:
        bad(f"pages in both files: {sorted(shared)}")
    shared_a = got["tune"][1] & got["heldout"][1]
    if shared_a:
        bad(f"{len(shared_a)} a questions in both files, e.g. {sorted(shared_a)[:3]}")
    for p in problems:
        print("PROBLEM:", p)
    print("OK" if not problems else f"{len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
