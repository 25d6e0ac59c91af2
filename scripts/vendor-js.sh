#!/usr/bin/env bash
# Fetches the dashboard's third-party JavaScript from the npm registry at pinned versions and
# puts each file, with its licence, under src/tracereplay/web/static/vendor/. The result is
# committed: the server never downloads anything at run time. Run it again after changing a
# version below; `npm pack` checks each tarball against the registry's integrity hash.
set -euo pipefail
cd "$(dirname "$0")/.."
HTMX_VERSION=2.0.11
out=src/tracereplay/web/static/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "htmx.org@$HTMX_VERSION" >/dev/null && tar -xzf htmx.org-*.tgz)
cp "$work/package/dist/htmx.min.js" "$out/htmx.min.js"
cp "$work/package/LICENSE" "$out/htmx.LICENSE"
printf 'htmx.org %s (npm), dist/htmx.min.js and LICENSE\n' "$HTMX_VERSION" > "$out/VERSIONS"
echo "vendored: $(cat "$out/VERSIONS")"
