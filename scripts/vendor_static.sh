#!/usr/bin/env bash
# Refresh the vendored CSS framework and icon font in static/vendor/ from the npm registry, and
# Plotly's bundle and stylesheet from the installed plotly package (scripts/vendor_plotly.py).
#
# No CDN at runtime and no build step to run the app: the files this copies are committed.
# Bump a version below, run `make vendor` (or this script), look at the pages, commit.
set -euo pipefail

BOOTSTRAP_VERSION="${BOOTSTRAP_VERSION:-5.3.9}"
BOOTSTRAP_ICONS_VERSION="${BOOTSTRAP_ICONS_VERSION:-1.13.2}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/static/vendor"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
npm pack --silent "bootstrap@$BOOTSTRAP_VERSION" "bootstrap-icons@$BOOTSTRAP_ICONS_VERSION" >/dev/null
mkdir bootstrap bootstrap-icons
tar -xzf "bootstrap-$BOOTSTRAP_VERSION.tgz" -C bootstrap --strip-components=1
tar -xzf "bootstrap-icons-$BOOTSTRAP_ICONS_VERSION.tgz" -C bootstrap-icons --strip-components=1

rm -rf "$DEST/bootstrap" "$DEST/bootstrap-icons"
mkdir -p "$DEST/bootstrap" "$DEST/bootstrap-icons/fonts"

cp bootstrap/dist/css/bootstrap.min.css bootstrap/dist/css/bootstrap.min.css.map "$DEST/bootstrap/"
cp bootstrap/dist/js/bootstrap.bundle.min.js bootstrap/dist/js/bootstrap.bundle.min.js.map \
  "$DEST/bootstrap/"
cp bootstrap/LICENSE "$DEST/bootstrap/LICENSE"

# The stylesheet loads ./fonts/bootstrap-icons.woff2 (woff as the fallback).
cp bootstrap-icons/font/bootstrap-icons.min.css "$DEST/bootstrap-icons/"
cp bootstrap-icons/font/fonts/bootstrap-icons.woff2 bootstrap-icons/font/fonts/bootstrap-icons.woff \
  "$DEST/bootstrap-icons/fonts/"
cp bootstrap-icons/LICENSE "$DEST/bootstrap-icons/LICENSE"

printf 'bootstrap %s\nbootstrap-icons %s\n' "$BOOTSTRAP_VERSION" "$BOOTSTRAP_ICONS_VERSION" \
  >"$DEST/VERSIONS"
echo "Vendored bootstrap $BOOTSTRAP_VERSION and bootstrap-icons $BOOTSTRAP_ICONS_VERSION into $DEST"

# Plotly: the bundle the plotly Python package (uv.lock) ships, and the CSS it would inline.
cd "$ROOT"
"${UV:-uv}" run --frozen python scripts/vendor_plotly.py
