#!/usr/bin/env bash
# Install the npm package playwright-core (the browser driver of the web package's browser
# tests; no browsers: the tests drive Debian's /usr/bin/chromium) into
# .cache/node/node_modules and print that folder. Idempotent: does nothing when the pinned
# version is already there.
set -euo pipefail
PLAYWRIGHT_VERSION="${PLAYWRIGHT_VERSION:-1.65.1}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.cache/node"
pkg="$dest/node_modules/playwright-core/package.json"
if [ -s "$pkg" ] && grep -q "\"version\": \"$PLAYWRIGHT_VERSION\"" "$pkg"; then
  echo "$dest/node_modules"
  exit 0
fi
command -v npm >/dev/null || { echo "fetch-playwright: npm is required (apt-get install -y npm)" >&2; exit 1; }
mkdir -p "$dest"
# A private package.json keeps npm from walking up to some other project.
[ -s "$dest/package.json" ] || echo '{"name":"hap-node-cache","private":true}' > "$dest/package.json"
# PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: playwright-core downloads nothing itself; set it anyway.
( cd "$dest" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --silent --no-audit --no-fund --no-save \
    --ignore-scripts "playwright-core@$PLAYWRIGHT_VERSION" >/dev/null )
[ -s "$pkg" ] || { echo "fetch-playwright: npm install produced no $pkg" >&2; exit 1; }
echo "$dest/node_modules"
