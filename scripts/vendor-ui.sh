#!/usr/bin/env bash
# Vendors the web UI's browser libraries from the npm registry into
# crates/cairn-server/ui/vendor/ (committed; `cargo build` embeds them, so neither
# building nor running Cairn needs Node.js or the network). Each package is pinned to a
# version and to the registry's sha512 integrity of its tarball; a mismatch stops the
# script. The files are copied as published, with two edits: a bare `from"preact"`
# import becomes a relative one (browsers resolve no bare specifiers, and an import
# map would be inline script), and `sourceMappingURL` comments are dropped (the maps
# are not shipped). Each package's license goes to `ui/vendor/licenses/`.
# `ui/vendor/MANIFEST` records each file's sha256, which a test
# checks, so a hand edit shows.
#
#   scripts/vendor-ui.sh            (re-run after changing a pin below)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=crates/cairn-server/ui/vendor
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# name version sha512-integrity  file-in-package  vendored-name
PINS=(
  "preact 11.2.0 sha512-/HfHI/7N84e6GrWBJ3J280z3mLaRJiDcSvj/A+y/4AbLnND/1UlGHe1sR6oYuTGwId0nP7dqDU9OnLxMPZ7xBg== dist/preact.mjs preact.mjs"
  "preact 11.2.0 sha512-/HfHI/7N84e6GrWBJ3J280z3mLaRJiDcSvj/A+y/4AbLnND/1UlGHe1sR6oYuTGwId0nP7dqDU9OnLxMPZ7xBg== hooks/dist/hooks.mjs hooks.mjs"
  "htm 3.1.1 sha512-983Vyg8NwUE7JkZ6NmOqpCZ+sh1bKv2iYTlUkzlWmA5JD2acKoxd4KVxbMmxX/85mtfdnDmTFoNKcg5DGAvxNQ== dist/htm.module.js htm.mjs"
  "dompurify 3.5.0 sha512-LYC0ZkE8P1V42JsRYTwMdme/2ET8SpOc5AA2eOFjP/IadvRd2fwiT4TVz5vkfy0XUx12aS2UaRkTnfVPNOv9vw== dist/purify.es.mjs purify.mjs"
  "marked 18.3.0 sha512-ed8zmPXlBb3UfGXN5iHMQyMhFpdqLgoV5umUXx/Q1R+FW3q8VpqpyoKUwlENL9appo2UMvNLURDVaT3AMOryGA== lib/marked.esm.js marked.mjs"
)
# Test-only: axe-core, the accessibility checker the browser tests inject (never served).
TEST_PINS=(
  "axe-core 4.14.1 sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ== axe.min.js axe.min.js"
)
TEST_OUT=crates/cairn/tests/python/vendor
REGISTRY=${NPM_REGISTRY:-https://registry.npmjs.org}

# Downloads and checks one pinned tarball into $WORK/NAME (once).
fetch() { # name version integrity
  local name=$1 version=$2 integrity=$3 tgz="$WORK/$1-$2.tgz"
  [ -f "$tgz" ] && return 0
  curl -fsSL "$REGISTRY/$name/-/$name-$version.tgz" -o "$tgz"
  local got
  got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  if [ "$got" != "$integrity" ]; then
    echo "vendor-ui: $name $version: integrity $got, expected $integrity" >&2
    exit 1
  fi
  mkdir -p "$WORK/$name"
  tar xzf "$tgz" -C "$WORK/$name"
}

mkdir -p "$OUT"
: > "$WORK/manifest"
for pin in "${PINS[@]}"; do
  read -r name version integrity file vendored <<<"$pin"
  fetch "$name" "$version" "$integrity"
  sed -e 's#from"preact"#from"./preact.mjs"#g; s#from "preact"#from "./preact.mjs"#g' \
      -e '/sourceMappingURL=/d' "$WORK/$name/package/$file" > "$OUT/$vendored"
  echo "$vendored $name@$version $(sha256sum "$OUT/$vendored" | cut -d' ' -f1)" >> "$WORK/manifest"
  mkdir -p "$OUT/licenses"
  for license in "$WORK/$name"/package/LICENSE*; do
    [ -f "$license" ] && cp "$license" "$OUT/licenses/$name-$version.txt"
  done
done
{
  echo "# file  package@version  sha256 (written by scripts/vendor-ui.sh; checked by a test)"
  cat "$WORK/manifest"
} > "$OUT/MANIFEST"
echo "vendor-ui: $(wc -l < "$WORK/manifest") files in $OUT" >&2

mkdir -p "$TEST_OUT"
for pin in "${TEST_PINS[@]}"; do
  read -r name version integrity file vendored <<<"$pin"
  fetch "$name" "$version" "$integrity"
  cp "$WORK/$name/package/$file" "$TEST_OUT/$vendored"
  cp "$WORK/$name/package/LICENSE" "$TEST_OUT/$name-$version.LICENSE.txt"
  echo "vendor-ui: $name@$version into $TEST_OUT (test only)" >&2
done
