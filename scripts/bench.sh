#!/usr/bin/env bash
# Benchmark: elapsed time, files/s and peak memory of `mmstall lint` (release
# build) on Debian's 6.12 mm/ and on the whole 6.12 tree, with the findings,
# long-call sites and per-rule counts of each run. Prints figures; it
# judges nothing (targets: mm/ <= 0.3 s, whole tree <= 60 s, memory <= 2 GiB).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p mmstall
bin=target/release/mmstall
tree=${MMSTALL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmstall}/src/linux-source-6.12
[ -d "$tree/mm" ] || { echo "bench: $tree missing; run scripts/setup.sh" >&2; exit 2; }
runs=${BENCH_RUNS:-3}
bench() {
  local label=$1 path=$2 best=999999 rss=0 files=0
  # Warm the page cache once so runs compare analysis, not disk.
  "$bin" lint "$path" --format json >/dev/null 2>&1 || true
  for _ in $(seq "$runs"); do
    out=$( { /usr/bin/time -f '%e %M' "$bin" lint "$path" --format json --stats >/dev/null 2>/tmp/mmstall-bench.err; } 2>&1 || true)
    read -r secs kb < <(tail -n1 /tmp/mmstall-bench.err)
    ms=$(awk -v s="$secs" 'BEGIN{printf "%d", s*1000}')
    [ "$ms" -lt "$best" ] && best=$ms
    [ "$kb" -gt "$rss" ] && rss=$kb
    files=$(awk '/^files:/{print $2}' /tmp/mmstall-bench.err)
    parsed=$(awk '/^files parsed:/{print $3}' /tmp/mmstall-bench.err)
  done
  awk -v l="$label" -v ms="$best" -v f="$files" -v p="$parsed" -v kb="$rss" 'BEGIN{
    printf "%-14s best of runs: %6d ms  %8.0f files/s  (%d files, %d parsed)  peak RSS %.0f MiB\n", l, ms, f/(ms/1000.0), f, p, kb/1024 }'
  # What the time bought: findings, distinct long-call sites, per rule.
  "$bin" lint "$path" --format json 2>/dev/null | python3 -c '
import collections, json, sys
findings = json.load(sys.stdin)["findings"]
sites = {f["site_id"] for f in findings}
rules = collections.Counter(f["code"] for f in findings)
print("%-14s %d findings (holder paths) at %d long-call sites: %s" % (sys.argv[1] + ":", len(findings), len(sites),
      ", ".join("%s %d" % kv for kv in sorted(rules.items())) or "none"))
' "$label" || true
}
bench "6.12 mm/" "$tree/mm"
bench "6.12 tree" "$tree"
