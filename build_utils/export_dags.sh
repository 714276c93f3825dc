#!/usr/bin/env bash
# Validate and export the example pipeline's DAG files for one version into OUT_DIR (default dist/dags/).
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:?usage: export_dags.sh VERSION [OUT_DIR]}"
out="${2:-dist/dags}"
cli="${PROCESSING_CORE:-.venv/bin/processing-core}"
[ -x "$cli" ] || cli=processing-core
"$cli" validate workflows --version "$version"
"$cli" export workflows --version "$version" --out "$out"
