#!/usr/bin/env bash
# Build the wheel and sdist into dist/ (the version comes from the git tag).
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
[ -x "$python" ] || python=python3
"$python" -m pip wheel --no-deps --wheel-dir dist .
