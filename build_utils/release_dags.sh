#!/usr/bin/env bash
# Bundle the example workflows for VERSION, verify the bundle, publish it to URL.
#   release_dags.sh VERSION URL [OUT_DIR]   (credentials: ARTIFACTORY_TOKEN, or
#   ARTIFACTORY_USERNAME and ARTIFACTORY_PASSWORD)
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:?usage: release_dags.sh VERSION URL [OUT_DIR]}"
url="${2:?usage: release_dags.sh VERSION URL [OUT_DIR]}"
out="${3:-dist}"
cli="${PROCESSING_CORE:-.venv/bin/processing-core}"
[ -x "$cli" ] || cli=processing-core
archive=$("$cli" bundle workflows --version "$version" --out "$out" | tail -n 1)
"$cli" verify "$archive"
"$cli" publish "$archive" --url "$url"
