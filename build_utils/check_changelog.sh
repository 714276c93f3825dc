#!/usr/bin/env bash
# Fail when a change touches src/ without adding a towncrier fragment under changelog/.
#   check_changelog.sh [BASE]   BASE: what the change is compared with (default: the pull
#   request's destination branch on Bitbucket, else origin/main, else main).
set -euo pipefail
base="${1:-}"
if [ -z "$base" ]; then
    if [ -n "${BITBUCKET_PR_DESTINATION_BRANCH:-}" ]; then
        base="origin/$BITBUCKET_PR_DESTINATION_BRANCH"
    elif git rev-parse --verify --quiet origin/main >/dev/null; then
        base=origin/main
    else
        base=main
    fi
fi
fork=$(git merge-base "$base" HEAD)
if ! git diff --name-only "$fork" HEAD -- src | grep -q .; then
    echo "changelog: no change to src/, no fragment needed"
    exit 0
fi
fragments=$(git diff --name-only --diff-filter=A "$fork" HEAD -- changelog \
    | grep -E '^changelog/[0-9]+\.(feature|bugfix|doc|removal|misc)\.md$' || true)
if [ -z "$fragments" ]; then
    echo "error: src/ changed since $base but no towncrier fragment was added." >&2
    echo "Add changelog/<issue>.<type>.md (type: feature, bugfix, doc, removal or misc)." >&2
    exit 1
fi
echo "changelog: $(echo "$fragments" | tr '\n' ' ')"
