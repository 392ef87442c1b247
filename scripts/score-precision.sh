#!/usr/bin/env bash
# Scores whole-tree lint runs against the labelled corpus (corpus/precision/).
#
#   scripts/score-precision.sh [--check] [TREE=LINT.json ...]
#
# With no TREE=LINT.json, lints every corpus tree that is unpacked under
# $MMSTALL_CACHE/src (linux-source-6.12, and linux-source-6.1 after
# MMSTALL_SETUP_CORPUS=1 scripts/setup.sh) with $MMSTALL_BIN (default: the
# release build, built if missing) and scores those runs; the JSON is kept in
# $SCORE_OUT (default target/precision/). --check: exit 1 when a rule's
# precision is below 0.9 (on either tree, or on both together) or a finding
# labelled real is no longer reported.
# Exit codes: 0 ok, 1 check failed, 2 usage/input error, 3 no tree or binary.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${MMSTALL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmstall}
out=${SCORE_OUT:-$root/target/precision}
flags=()
runs=()
for a in "$@"; do
  case "$a" in
    --check) flags+=(--check) ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *=*) runs+=("$a") ;;
    *) echo "score-precision: unknown argument \`$a\`" >&2; exit 2 ;;
  esac
done

if [ ${#runs[@]} -eq 0 ]; then
  bin=${MMSTALL_BIN:-$root/target/release/mmstall}
  if [ ! -x "$bin" ]; then
    (cd "$root" && nice -n 15 cargo build --release -q -p mmstall) || { echo "score-precision: cannot build $bin" >&2; exit 3; }
  fi
  mkdir -p "$out"
  for tree in 6.12 6.1; do
    src="$cache/src/linux-source-$tree"
    if [ ! -f "$src/mm/mmap.c" ]; then
      echo "score-precision: skipping $tree: $src is not unpacked" >&2
      continue
    fi
    json="$out/lint-$tree.json"
    echo "score-precision: linting $src" >&2
    rc=0
    "$bin" lint --format json --stats "$src" > "$json" 2> "$out/lint-$tree.stats" || rc=$?
    # lint exits 1 when it reports findings; anything else is a failed run.
    if [ "$rc" -gt 1 ]; then
      echo "score-precision: lint of $src failed (exit $rc): see $out/lint-$tree.stats" >&2
      exit 3
    fi
    runs+=("$tree=$json")
  done
  if [ ${#runs[@]} -eq 0 ]; then
    echo "score-precision: no corpus tree unpacked under $cache/src (run scripts/setup.sh)" >&2
    exit 3
  fi
fi
exec python3 "$root/scripts/score_precision.py" ${flags[@]+"${flags[@]}"} "${runs[@]}"
