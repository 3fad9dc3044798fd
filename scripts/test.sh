#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up, code generation, lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

scripts/bootstrap.sh
BIN=.venv/bin

echo "[test] generating protobuf/gRPC code from protos/" >&2
"$BIN/python" scripts/gen_protos.py

echo "[test] control-plane binaries (built once, then cached)" >&2
"$BIN/mec-orchestrator" devcluster build

echo "[test] lint and types" >&2
"$BIN/ruff" check .
"$BIN/ruff" format --check .
"$BIN/mypy"
"$BIN/lint-imports"
"$("$BIN/mec-orchestrator" devcluster path buf)" lint

echo "[test] tests" >&2
set +e
"$BIN/pytest" "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "[test] pytest collected no tests: that is a failure here" >&2
  exit 1
fi
echo "[test] finished in $(( $(date +%s) - started )) s with exit code $status" >&2
exit "$status"
