#!/usr/bin/env bash
# Score an mmstall binary on the cross-era recall corpus (corpus/recall/).
#
#   scripts/score-recall.sh [BINARY] [score.py options...]
#
# BINARY defaults to target/release/mmstall of this checkout. The trees must
# have been extracted first (scripts/corpus-trees.sh); options such as
# `--version 2.6.29`, `--whole-tree`, `--keep-json DIR` go to
# corpus/recall/score.py (`--help`). Prints recall and clean-kept per era group
# (2.6, 3.x-4.x, 5.x, 6.x) and overall, and lists every miss.
# Exit: 0 every group >= 0.95, 1 a group below, 2 usage/label error, 3 a tree
# missing or lint failing.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
binary=$here/target/release/mmstall
if [[ $# -gt 0 && $1 != -* ]]; then binary=$1; shift; fi
if [[ ! -x $binary ]]; then
    echo "error: no mmstall binary at $binary (nice -n 15 cargo build --release -p mmstall)" >&2
    exit 2
fi
exec python3 "$here/corpus/recall/score.py" --binary "$binary" "$@"
