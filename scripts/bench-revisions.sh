#!/usr/bin/env bash
# Benchmark of `mmstall diff` and `mmstall series` on Debian's 6.12 tree
# (release build). Prints figures; judges nothing (issue 4's target: a 5-file
# change diffed in <= 1 s after the OLD side is cached).
#
# Once, it commits the unpacked tree (all files, read-only use of the tree)
# into a scratch bare repository under $MMSTALL_CACHE/scratch (about 30 s),
# then makes a branch `five` changing 5 files of mm/ (one re-introduces the
# mlock population stall, four are comment-only) and the same change as a
# 5-patch mbox. Both runs report the time of each side (--stats on stderr).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p mmstall
bin=${CARGO_TARGET_DIR:-target}/release/mmstall
cache=${MMSTALL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmstall}
tree=$cache/src/linux-source-6.12
[ -d "$tree/mm" ] || { echo "bench: $tree missing; run scripts/setup.sh" >&2; exit 2; }
repo=$cache/scratch/bench-linux-6.12.git
patch=$PWD/revisions/tests/fixtures/e2e-mlock-populate-under-write.patch
export GIT_AUTHOR_NAME=mmstall GIT_AUTHOR_EMAIL=bench@mmstall.invalid GIT_COMMITTER_NAME=mmstall \
  GIT_COMMITTER_EMAIL=bench@mmstall.invalid GIT_AUTHOR_DATE=2026-01-01T00:00:00Z GIT_COMMITTER_DATE=2026-01-01T00:00:00Z
if ! git --git-dir="$repo" rev-parse -q --verify refs/heads/five >/dev/null 2>&1; then
  echo "bench: committing $tree into $repo (once)" >&2
  rm -rf "$repo"; mkdir -p "$(dirname "$repo")"; git init -q --bare "$repo"
  index=$(mktemp); rm -f "$index"
  # -f: Debian's .gitignore ignores everything at the top; the tree is only read.
  (cd "$tree" && GIT_DIR=$repo GIT_WORK_TREE=$tree GIT_INDEX_FILE=$index git add -A -f .)
  base=$(GIT_DIR=$repo GIT_INDEX_FILE=$index git commit-tree "$(GIT_DIR=$repo GIT_INDEX_FILE=$index git write-tree)" -m "linux-source-6.12")
  git --git-dir="$repo" update-ref refs/heads/base "$base"
  git --git-dir="$repo" -c pack.window=0 repack -adq
  # Five commits, one file each: the in-house stall patch, then comment-only edits.
  work=$(mktemp -d)
  git --git-dir="$repo" worktree add -q "$work/wt" base 2>/dev/null || git clone -q --shared "$repo" "$work/wt"
  (
    cd "$work/wt" && git checkout -q -b five base
    git apply "$patch" && git commit -qam "mm/mlock: populate before dropping the write lock"
    for f in mm/mmap.c mm/memory.c mm/gup.c mm/madvise.c; do
      sed -i '1a /* mmstall bench: a comment-only change */' "$f"
      git commit -qam "${f%.c}: comment-only change for the bench"
    done
    git format-patch -q --stdout base..five > "$repo/../bench-five.mbox"
    git push -q "$repo" five 2>/dev/null || git --git-dir="$repo" fetch -q "$work/wt" five:five
  )
  git --git-dir="$repo" worktree remove --force "$work/wt" 2>/dev/null || true
  rm -rf "$work" "$index"
fi
mbox=$(dirname "$repo")/bench-five.mbox
run() {
  local label=$1; shift
  local t0 t1
  t0=$(date +%s%N)
  "$bin" "$@" --stats >/dev/null 2>/tmp/mmstall-bench-rev.err || true
  t1=$(date +%s%N)
  printf '%-34s wall %6d ms\n' "$label" $(( (t1 - t0) / 1000000 ))
  sed 's/^/    /' /tmp/mmstall-bench-rev.err
}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
run "diff base five (mm)" diff --repo "$repo" base five mm
run "diff base five (whole tree)" diff --repo "$repo" base five
run "series 5 patches (mm)" series --repo "$repo" --base base "$mbox" mm
run "series 5 patches (whole tree)" series --repo "$repo" --base base "$mbox"
