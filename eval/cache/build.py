"""Turns the hand-written sources in src/ into pairs-tune.jsonl and pairs-heldout.jsonl.

Source format (src/tune.txt, src/heldout.txt), one item per line:
  @ page.html              start of a page block; the questions below come from that page
  Q <question a>           a question the page answers
  P <question b>           a paraphrase of the last Q (same answer)
  N <miss> <question b>    a near miss of the last Q; <miss> is one of MISSES in check.py
Lines starting with # and blank lines are ignored.  Ids are assigned in file order.

  python3 build.py         rewrites both JSONL files next to this script
"""
import json, pathlib, sys

HERE = pathlib.Path(__file__).parent
MISSES = {"number", "identifier", "negation", "entity", "operation", "scope"}


def parse(path):
    page = q = None
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        tag, _, rest = line.partition(" ")
        rest = rest.strip()
        where = f"{path.name}:{n}"
        if tag == "@":
            page, q = rest, None
        elif tag == "Q":
            if page is None:
                sys.exit(f"{where}: Q before any @ page")
            q = rest
        elif tag == "P":
            if q is None:
                sys.exit(f"{where}: P without Q")
            out.append({"kind": "paraphrase", "miss": None, "a": q, "b": rest, "page": page})
        elif tag == "N":
            miss, _, b = rest.partition(" ")
            if q is None or miss not in MISSES or not b.strip():
                sys.exit(f"{where}: bad N line")
            out.append({"kind": "near_miss", "miss": miss, "a": q, "b": b.strip(), "page": page})
        else:
            sys.exit(f"{where}: unknown tag {tag!r}")
    return out


def main():
    for name, prefix in (("tune", "t"), ("heldout", "h")):
        src = HERE / "src" / f"{name}.txt"
        rows = parse(src)
        with open(HERE / f"pairs-{name}.jsonl", "w") as f:
            for i, r in enumerate(rows, 1):
                rec = {"id": f"{prefix}{i:04d}", **r}
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        print(f"pairs-{name}.jsonl: {len(rows)} pairs")


if __name__ == "__main__":
    main()
