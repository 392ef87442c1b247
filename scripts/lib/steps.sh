# Shared by scripts/test.sh and scripts/validate.sh: timed steps, a timing
# table and a closing "N passed, N failed" line over every cargo test run.
# Sourced, not run.

log=$(mktemp -t mmstall-steps.XXXXXX)
trap 'rm -f "$log"' EXIT
names=()
secs=()
results=()
failed=0
run_start=$(date +%s)
# step NAME COMMAND...: runs the command, its output to the terminal and to the
# log (for the test counts), and records its time and status.
step() {
  local name=$1
  shift
  echo
  echo "==> $name: $*"
  local t0 rc
  t0=$(date +%s)
  "$@" 2>&1 | tee -a "$log"
  rc=${PIPESTATUS[0]}
  names+=("$name")
  secs+=($(($(date +%s) - t0)))
  if [ "$rc" = 0 ]; then results+=("ok"); else results+=("FAILED ($rc)"); failed=1; fi
  return "$rc"
}

table() {
  echo
  echo "== Timing ($(nproc) cores) =="
  printf '%-44s %9s  %s\n' step seconds status
  local i
  for i in "${!names[@]}"; do
    printf '%-44s %9s  %s\n' "${names[$i]}" "${secs[$i]}" "${results[$i]}"
  done
  printf '%-44s %9s\n' total $(($(date +%s) - run_start))
  # Every `test result:` line of every cargo test run, added up.
  local passed fail
  passed=$(grep -a '^test result:' "$log" | awk '{for (i = 1; i < NF; i++) if ($(i + 1) ~ /^passed/) n += $i} END {print n + 0}')
  fail=$(grep -a '^test result:' "$log" | awk '{for (i = 1; i < NF; i++) if ($(i + 1) ~ /^failed/) n += $i} END {print n + 0}')
  echo
  echo "${passed:-0} passed, ${fail:-0} failed"
}

finish() {
  table
  exit "$failed"
}

