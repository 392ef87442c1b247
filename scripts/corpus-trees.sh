#!/usr/bin/env bash
# Extract the kernel trees of the cross-era recall corpus (corpus/recall/) into
# $MMSTALL_CACHE/corpus/VERSION (default ~/.cache/mmstall/corpus/VERSION).
#
# Kernel source never enters this repository: trees come from public git
# repositories (pinned commits) or from Debian's linux-source packages, and are
# extracted outside the repository with `git archive` of the pinned commit.
#
# Git sources are looked up as bare repositories in $CORPUS_GIT_DIR (default
# /work/corpus-cache) named OWNER+NAME.git. On the machine where the corpus was
# built they were brought in by a session tool (a snapshot fetch), not by this
# script. On another machine, CORPUS_CLONE=1 makes this script `git clone --bare`
# the GitHub repository instead; that needs network access and the repository
# still existing with the pinned commit (not guaranteed: these are personal
# and vendor repositories, not kernel.org). The pinned commit is checked in
# every case, so a tree is exactly the one the labels were written against or
# the script fails for that version (exit 3) and goes on with the others.
#
# Usage: scripts/corpus-trees.sh [VERSION...]   (default: every version)
#        scripts/corpus-trees.sh --list         (print the source table)
# Env:   MMSTALL_CACHE, CORPUS_GIT_DIR, CORPUS_CLONE=1, CORPUS_PATHS="mm kernel"
#        (extract only these paths; default: the whole tree)
# Exit:  0 all requested trees present, 2 usage error, 3 a source missing or
#        a commit/tarball not found (the other versions are still extracted).
set -uo pipefail

cache=${MMSTALL_CACHE:-$HOME/.cache/mmstall}
git_dir=${CORPUS_GIT_DIR:-/work/corpus-cache}
out_root=$cache/corpus

# VERSION|kind|source|commit-or-file|subdir-in-archive|provenance note
# kind git: source is a GitHub OWNER/NAME; kind deb: source is a Debian package
# whose tarball is /usr/src/FILE; kind dir: an already unpacked tree.
sources() {
cat <<'TABLE'
2.6.27|git|allwinner/linux-2.6.36|3fa8749e584b55f1180411ab1b51117190bac1e5||upstream commit "Linux 2.6.27" (the repository carries Linus' full history up to 2.6.36 under a vendor branch)
2.6.28|git|allwinner/linux-2.6.36|4a6908a3a050aacc9c3a2f36b276b46c0629ad91||upstream commit "Linux 2.6.28"
2.6.29|git|allwinner/linux-2.6.36|8e0ee43bc2c3e19db56a4adaa9a9b04ce885cd84||upstream commit "Linux 2.6.29"
2.6.36|git|allwinner/linux-2.6.36|f6f94e2ab1b33f0082ac22d71f66385a60d8157f||upstream commit "Linux 2.6.36"
2.6.37|git|srinugnt2000/linux-2.6.37|06664e69f31c3edabd6441a6cd8a329c205f8640||single import commit "base" of a 2.6.37 tree (Makefile 2.6.37); mm/ not verified against upstream
3.10|git|Original-Linux/Linux-3.10|87bade1f41b5d2027146bd76d293f8389e59635a||import commit of 3.10.65 (Makefile); later commits of the repository touch no mm/ file; not verified against upstream
4.3|git|YoungjaeLee/linux-4.3-cxlbdev|dc98e805a1fa66fd97bf326188708f2918ff60bc||import commit of 4.3 (Makefile 4.3.0-cxlbdev-rc: a research project's tree); not verified against upstream
4.4|git|xiaojimmychen/linux-4.4|e452f985eba047d86aa3083eee512d41cca6f727||import of Android's common kernel at 4.4.0 (Makefile); Android carries its own mm/ patches; not verified against upstream
4.19|git|maxiangpan/linux-4.19|6f30a1bc9f99d4dabe3011a83be3ceb3f3a14fbd||import commit of 4.19.304 (stable; Makefile); not verified against upstream
4.20|git|a4913994/linux-4.20|89eafd3ccb447ccd556066b1884086530d7f8e6c||import commit "first commit" of 4.20.0 (Makefile); later commits touch no mm/ file; not verified against upstream
5.4|git|BoKyoungHan/linux-5.4.59-vanilla|5b62582439bdadc8decffe4b4266cf4e6a871f3c|linux-5.4.59|import commit of 5.4.59 ("vanilla"), tree under linux-5.4.59/
5.10|git|ejga2001/linux-5.10.7|d71d8a76749740865a4c09adc1efaa81e89104a5||import commit "Initial commit" of 5.10.7 (Makefile); later commits (perf events on RISC-V) touch no mm/ file; not verified against upstream
6.1|deb|linux-source-6.1|linux-source-6.1.tar.xz|linux-source-6.1|Debian 12 package linux-source-6.1 (6.1.192-3 when labelled)
6.12|deb|linux-source-6.12|linux-source-6.12.tar.xz|linux-source-6.12|Debian 12 package linux-source-6.12 (the tree scripts/setup.sh unpacks)
TABLE
}

if [[ ${1:-} == --list ]]; then sources | column -t -s'|'; exit 0; fi
if [[ ${1:-} == -* ]]; then echo "usage: $0 [--list] [VERSION...]" >&2; exit 2; fi

wanted=("$@")
status=0
read -r -a paths <<<"${CORPUS_PATHS:-}"

want() {
    [[ ${#wanted[@]} -eq 0 ]] && return 0
    local w; for w in "${wanted[@]}"; do [[ $w == "$1" ]] && return 0; done
    return 1
}

extract_git() {   # version repo commit subdir dest
    local version=$1 repo=$2 commit=$3 subdir=$4 dest=$5
    local bare=$git_dir/${repo/\//+}.git
    if [[ ! -d $bare ]]; then
        if [[ ${CORPUS_CLONE:-0} == 1 ]]; then
            git clone --quiet --bare "https://github.com/$repo" "$bare" || {
                echo "$version: cannot clone https://github.com/$repo" >&2; return 3; }
        else
            echo "$version: no git source at $bare (fetch github:$repo there, or set CORPUS_CLONE=1)" >&2
            return 3
        fi
    fi
    if ! git -C "$bare" cat-file -e "$commit^{commit}" 2>/dev/null; then
        echo "$version: commit $commit not in $bare" >&2; return 3
    fi
    local treeish=$commit
    if [[ -n $subdir ]]; then treeish=$commit:$subdir; fi
    local -a sel=()
    local p; for p in "${paths[@]}"; do sel+=("$p"); done
    # Snapshots may lack their largest blobs (built images, firmware): archive
    # a copy of the tree without them (a temporary index in the cache
    # repository) instead of failing, and name them on stderr.
    local missing
    missing=$(git -C "$bare" ls-tree -r "$treeish" |
        awk '$2 == "blob" { print $3 }' |
        git -C "$bare" cat-file --batch-check 2>/dev/null |
        awk '$2 == "missing" { print $1 }')
    if [[ -n $missing ]]; then
        local index
        index=$(mktemp) && rm -f "$index"
        GIT_INDEX_FILE=$index git -C "$bare" read-tree "$treeish" || return 3
        while IFS= read -r p; do
            echo "$version: blob missing from the source, left out: $p" >&2
            GIT_INDEX_FILE=$index git -C "$bare" rm --cached --quiet -- "$p" || return 3
        done < <(git -C "$bare" ls-tree -r "$treeish" | awk -v m="$missing" '
            BEGIN { n = split(m, a, "\n"); for (i = 1; i <= n; i++) miss[a[i]] = 1 }
            $2 == "blob" && ($3 in miss) { sub(/^[^\t]*\t/, ""); print }')
        treeish=$(GIT_INDEX_FILE=$index git -C "$bare" write-tree) || return 3
        rm -f "$index"
    fi
    mkdir -p "$dest.tmp" &&
    git -C "$bare" archive --format=tar "$treeish" "${sel[@]}" | tar -x -C "$dest.tmp" &&
    mv "$dest.tmp" "$dest" || { echo "$version: extraction failed" >&2; rm -rf "$dest.tmp"; return 3; }
    return 0
}

extract_deb() {   # version package file subdir dest
    local version=$1 package=$2 file=$3 subdir=$4 dest=$5
    local tarball=/usr/src/$file
    if [[ ! -f $tarball ]]; then
        echo "$version: $tarball missing (apt-get install $package)" >&2; return 3
    fi
    local -a sel=()
    local p; for p in "${paths[@]}"; do sel+=("$subdir/$p"); done
    mkdir -p "$dest.tmp" &&
    tar -xf "$tarball" -C "$dest.tmp" --strip-components=1 "${sel[@]}" &&
    mv "$dest.tmp" "$dest" || { echo "$version: extraction failed" >&2; rm -rf "$dest.tmp"; return 3; }
}

mkdir -p "$out_root"
while IFS='|' read -r version kind source ref subdir note; do
    want "$version" || continue
    dest=$out_root/$version
    if [[ -d $dest ]]; then echo "$version: present at $dest"; continue; fi
    rm -rf "$dest.tmp"
    case $kind in
        git) extract_git "$version" "$source" "$ref" "$subdir" "$dest" ;;
        deb) extract_deb "$version" "$source" "$ref" "$subdir" "$dest" ;;
    esac
    rc=$?
    if [[ $rc -ne 0 ]]; then status=3; continue; fi
    printf '%s\n' "$source $ref ($note)" >"$dest/.mmstall-corpus-source"
    echo "$version: extracted to $dest ($note)"
done < <(sources)
for w in "${wanted[@]}"; do
    sources | cut -d'|' -f1 | grep -qx -- "$w" || { echo "unknown version $w" >&2; status=2; }
done
exit $status
