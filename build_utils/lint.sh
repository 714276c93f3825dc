#!/usr/bin/env bash
# Lint exactly as CI does: ruff (rules and formatting) and mypy over the library.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${VENV_BIN:-.venv/bin}"
"$bin/ruff" check .
"$bin/ruff" format --check .
"$bin/mypy"
