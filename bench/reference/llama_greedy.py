"""Greedy-decode 32 tokens with llama.cpp (llama-cpp-python) on fixed chat prompts and
record prompt tokens, output tokens and the top-5 logits of each step; also record the
tokenization of tricky strings. Cairn's tests compare against these files.

Usage: llama_greedy.py MODEL_GGUF OUT_GREEDY_JSON OUT_TOKENS_JSON
"""
import json
import sys

import llama_cpp
import numpy as np

QUESTIONS = [
    "What is the capital of France?",
    "Write a Python function that returns the n-th Fibonacci number.",
    "Explain in two sentences what a B-tree index is.",
    "List three prime numbers greater than 100.",
    "Translate 'good morning' into German and Spanish.",
]
TRICKY = [
    " leading space", "two  spaces", "tabs\tand\nnewlines\n\n", "12345678", "3.14159",
    "数据库索引", "emoji 🙂👍", "pg_stat_statements", "don't won't I'll", "<|im_start|>user",
    "café naïve Zürich", "SELECT max_connections FROM pg_settings;", "   ", "a\r\nb",
    "\\gexec 40P01",
]
STEPS = 32


def main() -> None:
    path, out_greedy, out_tokens = sys.argv[1:4]
    llm = llama_cpp.Llama(model_path=path, n_ctx=512, n_threads=2, logits_all=True,
                          verbose=False, seed=0)
    prompts = []
    for q in QUESTIONS:
        text = "<|im_start|>user\n" + q + "<|im_end|>\n<|im_start|>assistant\n"
        tokens = llm.tokenize(text.encode(), add_bos=False, special=True)
        llm.reset()
        llm.eval(tokens)
        out, top5 = [], []
        for _ in range(STEPS):
            logits = np.array(llm.scores[llm.n_tokens - 1])
            best = np.argsort(-logits, kind="stable")[:5]
            top5.append([[int(i), float(logits[i])] for i in best])
            tok = int(best[0])
            out.append(tok)
            llm.eval([tok])
        prompts.append({
            "question": q, "prompt_text": text, "prompt_tokens": tokens, "output_tokens": out,
            "output_text": llm.detokenize(out).decode("utf-8", "replace"), "top5": top5,
        })
    with open(out_greedy, "w") as f:
        json.dump({"model": path.rsplit("/", 1)[-1], "llama_cpp_python_version": llama_cpp.__version__,
                   "prompts": prompts}, f)
    toks = [{"text": s, "tokens": llm.tokenize(s.encode(), add_bos=False, special=True)} for s in TRICKY]
    with open(out_tokens, "w") as f:
        json.dump(toks, f, ensure_ascii=False)
    for p in prompts:
        print(repr(p["output_text"]))


if __name__ == "__main__":
    main()
