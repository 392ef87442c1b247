#!/usr/bin/env bash
# Replay `mmstall diff` over the real upstream commits around the seed fixes
# of issue 15 (corpus/recall/replay.py lists the steps and what each should be
# credited with) and print what each is credited with.
#
#   scripts/replay-history.sh [BINARY] [--step N] [--all] [--keep-json DIR]
#   scripts/replay-history.sh --setup     # build replay-releases.git (see below)
#
# Real per-commit history is available here only up to 2.6.36 (the
# allwinner/linux-2.6.36 repository carries Linus' history): the mlock
# downgrade of 2.6.28 and its 2.6.29 revert, the LRU loop macros. For the
# fault retry (2.6.37), the rmap trylock removal (4.4) and the munmap zap
# under read (4.20) only release trees could be fetched, so those steps diff
# two releases: --setup makes $CORPUS_GIT_DIR/replay-releases.git, a bare
# repository that borrows the objects of the fetched repositories
# (objects/info/alternates, nothing copied) and names their release commits
# with tags. `mmstall diff` only reads objects; nothing else is written.
# Exit: 0 every step ran, 2 usage, 3 a repository/revision/binary failed.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
git_dir=${CORPUS_GIT_DIR:-/work/corpus-cache}

if [[ ${1:-} == --setup ]]; then
    replay=$git_dir/replay-releases.git
    [[ -d $replay ]] || git init --quiet --bare "$replay"
    : >"$replay/objects/info/alternates"
    # tag|source repository|commit (the same pins as scripts/corpus-trees.sh)
    while IFS='|' read -r tag src commit; do
        if [[ ! -d $git_dir/$src/objects ]]; then
            echo "missing $git_dir/$src (scripts/corpus-trees.sh names its origin)" >&2; exit 3
        fi
        echo "$git_dir/$src/objects" >>"$replay/objects/info/alternates"
        git -C "$replay" tag -f "$tag" "$commit" >/dev/null
        echo "$tag -> $src $commit"
    done <<'TABLE'
v2.6.36|allwinner+linux-2.6.36.git|f6f94e2ab1b33f0082ac22d71f66385a60d8157f
v2.6.37|srinugnt2000+linux-2.6.37.git|06664e69f31c3edabd6441a6cd8a329c205f8640
v4.3|YoungjaeLee+linux-4.3-cxlbdev.git|dc98e805a1fa66fd97bf326188708f2918ff60bc
v4.4|xiaojimmychen+linux-4.4.git|e452f985eba047d86aa3083eee512d41cca6f727
v4.19|maxiangpan+linux-4.19.git|6f30a1bc9f99d4dabe3011a83be3ceb3f3a14fbd
v4.20|a4913994+linux-4.20.git|89eafd3ccb447ccd556066b1884086530d7f8e6c
TABLE
    sort -u -o "$replay/objects/info/alternates" "$replay/objects/info/alternates"
    exit 0
fi

binary=$here/target/release/mmstall
if [[ $# -gt 0 && $1 != -* ]]; then binary=$1; shift; fi
if [[ ! -x $binary ]]; then
    echo "error: no mmstall binary at $binary (nice -n 15 cargo build --release -p mmstall)" >&2
    exit 2
fi
exec python3 "$here/corpus/recall/replay.py" --binary "$binary" --git-dir "$git_dir" "$@"
