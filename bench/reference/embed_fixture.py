"""Record all-MiniLM-L6-v2 vectors from sentence-transformers as a test fixture.

Usage: embed_fixture.py MODEL_DIR OUT_JSON
"""
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from sentence_transformers import SentenceTransformer  # noqa: E402

TEXTS = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "SELECT * FROM pg_stat_statements;",
    "max_connections sets the maximum number of concurrent connections.",
    "Crème brûlée et café naïve à Zürich.",
    "数据库索引可以加快查询速度。",
    "Deadlock detected 🙂 SQLSTATE 40P01",
    "x",
    "  leading and trailing spaces  ",
    "The write-ahead log (WAL) guarantees durability: changes are logged before data files are written.",
    "VACUUM reclaims storage occupied by dead tuples. " * 40,
    "\\gexec sends the current query buffer to the server, then treats each column of each row of the result as a SQL statement.",
]


def main() -> None:
    model_dir, out = sys.argv[1], sys.argv[2]
    model = SentenceTransformer(model_dir, device="cpu")
    vectors = model.encode(TEXTS, normalize_embeddings=True, batch_size=32)
    tok = model.tokenizer
    items = []
    for text, vec in zip(TEXTS, vectors):
        ids = tok(text, truncation=True, max_length=model.max_seq_length)["input_ids"]
        items.append({"text": text, "tokens": len(ids), "vector": [round(float(x), 6) for x in vec]})
    with open(out, "w") as f:
        json.dump({"model": "all-MiniLM-L6-v2", "max_seq_length": model.max_seq_length, "items": items}, f)
    print(f"wrote {len(items)} vectors to {out}")


if __name__ == "__main__":
    main()
