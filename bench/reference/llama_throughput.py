"""llama.cpp prompt and decode tokens/s through llama-cpp-python; prints one JSON line.

Usage: llama_throughput.py --model GGUF [--threads N] [--prompt-tokens 512] [--gen-tokens 128] [--repeat 3]
"""
import argparse
import json
import os
import resource
import time

import llama_cpp
import numpy as np

PARAGRAPH = ("PostgreSQL is a powerful, open source object-relational database system that uses and "
             "extends the SQL language combined with many features that safely store and scale the "
             "most complicated data workloads. ")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--gen-tokens", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    llm = llama_cpp.Llama(model_path=a.model, n_ctx=2048, n_threads=a.threads, n_threads_batch=a.threads,
                          n_batch=512, verbose=False)
    text = PARAGRAPH
    while len(llm.tokenize(text.encode(), add_bos=False)) < a.prompt_tokens:
        text += PARAGRAPH
    prompt = llm.tokenize(text.encode(), add_bos=False)[: a.prompt_tokens]
    chat = llm.tokenize("<|im_start|>user\nWrite a long essay about databases.<|im_end|>\n<|im_start|>assistant\n".encode(),
                        add_bos=False, special=True)
    best_pp, best_tg = 0.0, 0.0
    for _ in range(a.repeat):
        llm.reset()
        t = time.perf_counter()
        llm.eval(prompt)
        best_pp = max(best_pp, a.prompt_tokens / (time.perf_counter() - t))
        llm.reset()
        llm.eval(chat)
        tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        t = time.perf_counter()
        for _ in range(a.gen_tokens - 1):
            llm.eval([tok])
            tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        best_tg = max(best_tg, (a.gen_tokens - 1) / (time.perf_counter() - t))
    print(json.dumps({"impl": f"llama.cpp (llama-cpp-python {llama_cpp.__version__})",
                      "model": os.path.basename(a.model), "threads": a.threads,
                      "prompt_tokens": a.prompt_tokens, "gen_tokens": a.gen_tokens,
                      "prompt_tokens_per_s": best_pp, "decode_tokens_per_s": best_tg,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
