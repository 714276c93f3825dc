#!/usr/bin/env bash
# Lint exactly as CI does.
set -euo pipefail
cd "$(dirname "$0")/.."
ruff="${RUFF:-.venv/bin/ruff}"
[ -x "$ruff" ] || ruff=ruff
"$ruff" check .
"$ruff" format --check .
