#!/usr/bin/env bash
# Measures `mmstall confirm` on cached kernels and prints the figures: per
# kernel the wall time (lint, boot, recipes) and, for each finding a series
# introduces, its hold at each size and the growth; for the baseline the
# outcome counts and the same findings' figures.
#
#   scripts/bench-confirm.sh                 # baseline + munmap-zap-under-write
#   KERNELS="KEY1 KEY2" scripts/bench-confirm.sh
#   MMSTALL_CACHE=/work/coldcache KERNELS=3aca1b64213c73b6d9cd scripts/bench-confirm.sh
#
# Kernels are build keys or directories (`mmstall vm build [--series S]`
# prints them); nothing is built here. Every run goes to a new directory
# under the cache's runs/ (confirm.json, the guest's raw traces).
set -euo pipefail
cd "$(dirname "$0")/.."

nice -n 19 cargo build --release -q -p mmstall -p mmstall-guest
MMSTALL=target/release/mmstall
if [ -z "${KERNELS:-}" ]; then
  base=$(nice -n 19 $MMSTALL vm build 2>/dev/null)
  series=$(nice -n 19 $MMSTALL vm build --series patches/munmap-zap-under-write 2>/dev/null)
  KERNELS="$base $series"
fi

for k in $KERNELS; do
  out=$(mktemp -d "${TMPDIR:-/tmp}/bench-confirm.XXXXXX")
  start=$(date +%s.%N)
  nice -n 19 $MMSTALL confirm --kernel "$k" --out "$out" ${CONFIRM_ARGS:-} >"$out/table.txt" 2>"$out/stderr.txt" || {
    echo "== $k: confirm failed (exit $?):"; tail -5 "$out/stderr.txt"; continue; }
  end=$(date +%s.%N)
  python3 - "$out/confirm.json" "$k" "$start" "$end" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
run, c = doc["run"], doc["confirmation"]
wall = float(sys.argv[4]) - float(sys.argv[3])
print(f"== {sys.argv[2]} ({c['kernel_release']}; findings: {run['findings_source']})")
print(f"   wall {wall:.1f} s: lint {run['lint_secs']:.1f} s, boot {run['boot_secs'] or 0:.1f} s, "
      f"recipes {run['command_secs'] or 0:.1f} s ({run['accel']}); {len(c['runs'])} recipe runs")
counts = {}
for o in c["outcomes"]:
    counts[o["outcome"]] = counts.get(o["outcome"], 0) + 1
print("   outcomes: " + ", ".join(f"{n} {w}" for w, n in sorted(counts.items())))
for o in c["outcomes"]:
    f, ev = o["finding"], o.get("evidence")
    if not f["code"] in ("MMS001", "MMS002", "MMS003"):
        continue
    figs = "  ".join(f"{s['size_mib']} MiB {s['max_ms']:.1f} ms" for s in ev["sizes"]) if ev else "-"
    growth = f"{ev['growth']:.2f}x" if ev and ev.get("growth") else "-"
    work = ev["sizes"][-1]["recipe"] if ev else "-"
    print(f"   {f['code']} {f['file']}:{f['line']} {f['function']} ({f['holder']}): "
          f"{work}: {figs}  growth {growth}  {o['outcome']}")
for d in c["discovered"]:
    figs = "  ".join(f"{s['size_mib']} MiB {s['max_ms']:.1f} ms" for s in d["evidence"]["sizes"])
    print(f"   discovered: {' < '.join(d['signature'])}: {figs}")
PY
  echo "   run directory: $out"
done
