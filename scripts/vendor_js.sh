#!/usr/bin/env bash
# Fetches the console's JavaScript libraries, pinned, from the npm registry (development time
# only: the files are committed under headwater/web/static/vendor/, so `pip install` needs no
# Node). Run it again after changing a version below; it rewrites the folder.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=headwater/web/static/vendor
# package@version  file-in-package  name-in-vendor
FILES=(
  "htmx.org@2.0.11 dist/htmx.min.js htmx.min.js"
  "cytoscape@3.35.0 dist/cytoscape.min.js cytoscape.min.js"
  "cytoscape-dagre@4.0.1 dist/cytoscape-dagre.min.js cytoscape-dagre.min.js"
  "uplot@1.6.32 dist/uPlot.iife.min.js uPlot.iife.min.js"
  "uplot@1.6.32 dist/uPlot.min.css uPlot.min.css"
)
# Bundled inside another file above, vendored for its licence only: cytoscape-dagre's build
# includes @dagrejs/dagre 3 (and its graphlib).
LICENSE_ONLY=("@dagrejs/dagre@3.1.3")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$OUT" && mkdir -p "$OUT/licenses"
: > "$OUT/VERSIONS"
for line in "${FILES[@]}"; do
  read -r spec file name <<<"$line"
  pkg=${spec%@*}
  dir="$work/$pkg"
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir"
    tarball=$(cd "$work" && npm pack --silent "$spec")
    tar xzf "$work/$tarball" -C "$dir"
    cp "$dir/package/LICENSE" "$OUT/licenses/$pkg.LICENSE"
    echo "$spec $(cd "$work" && sha256sum "$tarball" | cut -d' ' -f1)" >> "$OUT/VERSIONS"
  fi
  cp "$dir/package/$file" "$OUT/$name"
done
for spec in "${LICENSE_ONLY[@]}"; do
  pkg=${spec%@*}
  dir="$work/${pkg//\//_}"
  mkdir -p "$dir"
  tarball=$(cd "$work" && npm pack --silent "$spec")
  tar xzf "$work/$tarball" -C "$dir"
  cp "$dir/package/LICENSE" "$OUT/licenses/${pkg//\//_}.LICENSE"
  echo "$spec $(cd "$work" && sha256sum "$tarball" | cut -d' ' -f1) (licence only: bundled in cytoscape-dagre)" >> "$OUT/VERSIONS"
done
echo "vendored into $OUT:"
ls -l "$OUT"
