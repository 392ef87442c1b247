#!/usr/bin/env bash
# Long run of the front end's property test (analyzer/tests/front_end_fuzz.rs)
# over generated kernel-style C: batches of cases with fresh seeds for
# FUZZ_MINUTES (default 10). Any abort (panic, stack overflow) stops the run
# with the seed that reproduces it:
#   MMSTALL_FUZZ_SEED=S MMSTALL_FUZZ_CASES=N cargo test --release -p mmstall-analyzer --test front_end_fuzz
# Prints total cases and cases/s.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${FUZZ_MINUTES:-10}
batch=${FUZZ_BATCH:-200}
seed=${FUZZ_SEED:-$(date +%s)}
cargo test --release -q -p mmstall-analyzer --test front_end_fuzz --no-run 2>/dev/null
bin=$(cargo test --release -p mmstall-analyzer --test front_end_fuzz --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*front_end_fuzz[^"]*\)".*/\1/p' | tail -n1)
[ -x "$bin" ] || { echo "fuzz: test binary not found" >&2; exit 3; }
start=$(date +%s)
end=$((start + minutes * 60))
cases=0
batches=0
while [ "$(date +%s)" -lt "$end" ]; do
  if ! MMSTALL_FUZZ_SEED=$seed MMSTALL_FUZZ_CASES=$batch "$bin" -q >/tmp/mmstall-fuzz.log 2>&1; then
    cat /tmp/mmstall-fuzz.log >&2
    echo "fuzz: FAILED at MMSTALL_FUZZ_SEED=$seed MMSTALL_FUZZ_CASES=$batch" >&2
    exit 1
  fi
  cases=$((cases + batch))
  batches=$((batches + 1))
  seed=$((seed + 1))
done
elapsed=$(( $(date +%s) - start ))
awk -v c="$cases" -v s="$elapsed" -v b="$batches" 'BEGIN{
  printf "fuzz: %d cases in %d batches, %d s, %.1f cases/s, no abort\n", c, b, s, c / s }'
