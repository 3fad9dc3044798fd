#!/usr/bin/env bash
# What the live view's browser test needs (tests/liveview, bench/live_view.py), installed only
# when missing, so running it again does nothing:
#   chromium      Debian's headless-capable browser, driven at /usr/bin/chromium
#   nodejs, npm   to run the driver (only when no node is installed)
#   playwright-core, at the version pinned in scripts/browser/package-lock.json, into
#   .venv/browser (npm ci; the lockfile's hash is the cache key). Playwright's own browser
#   download (`npx playwright install`) is never used: the browser is the Debian package.
# Prints nothing on a warm run. The directory is given to the tests as .venv/browser.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
  echo "[browser-deps] installing: ${missing[*]}" >&2
  "${sudo[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi

target=.venv/browser
stamp="$target/.installed-$(cat scripts/browser/package.json scripts/browser/package-lock.json | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "[browser-deps] installing playwright-core into $target" >&2
  mkdir -p "$target"
  cp scripts/browser/package.json scripts/browser/package-lock.json "$target/"
  (cd "$target" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  rm -f "$target"/.installed-*
  touch "$stamp"
fi
