#!/usr/bin/env bash
# Idempotent set-up of everything the demo and the tests need on a fresh machine:
# a Python virtual environment with the project (editable) and its dev tools.
# Warm runs do nothing: the environment is rebuilt only when pyproject.toml changes.
# The control-plane binaries are built (and cached) by `mec-orchestrator devcluster build`.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "Python 3.11 or newer is needed: install it (Debian: apt-get install python3 python3-venv)." >&2
  exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "Python 3.11 or newer is needed, found $("$PYTHON" --version 2>&1): install a newer one or set PYTHON=." >&2
  exit 1
fi
if ! command -v go >/dev/null 2>&1; then
  echo "Go 1.24 or newer is needed to build the local control plane once: install it (https://go.dev/doc/install)." >&2
  exit 1
fi

# System packages the network-emulation tests need (iproute2); installed only when missing.
scripts/system-deps.sh

VENV=.venv
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.installed-$(cat pyproject.toml scripts/hatch_build.py | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "[bootstrap] installing the project and its dev tools into $VENV" >&2
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e '.[dev]'
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi

# The live view's browser test: Debian's chromium, and playwright-core (pinned) in .venv/browser.
scripts/browser-deps.sh
