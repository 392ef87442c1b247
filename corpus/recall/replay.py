#!/usr/bin/env python3
"""Replay `mmstall diff` over real upstream commits around the seed fixes of
issue 15 and print what each commit is credited with.

For every step (OLD -> NEW in one git repository) it prints the findings
introduced and fixed, per rule, and checks each "fixed" finding against the
NEW tree's source: when the function of the finding still exists and still
calls the long operation, the finding is marked `STILL IN CODE` (a finding
called fixed that probably still exists). Each step states what a correct
analyzer should credit, for the reader to compare.

Python 3.11, standard library only. Exit codes: 0 every step ran, 3 a
repository, revision or the binary failed (the other steps still run).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tarfile
from collections import Counter

PATHS = ["mm", "kernel/fork.c", "arch/x86/mm", "include/linux", "fs/proc/task_mmu.c"]

# (name, repository, old, new, kind, what a correct analyzer credits)
# kind "commit": a real upstream commit (old = its parent); "release": two
# release trees from different repositories (no per-commit history here).
STEPS = [
    ("mlock: unevictable mlocked pages (__mlock_vma_pages_range appears), 2.6.28-rc1",
     "allwinner+linux-2.6.36.git", "b291f000393^", "b291f000393", "commit",
     "introduced: MMS001 mlock(2)/mlockall(2) -> mlock_fixup -> __mlock_vma_pages_range under write "
     "(and MMS004 for its lock_page); nothing fixed that the code still does"),
    ("mlock: downgrade mmap sem while populating mlocked regions (8edb08caf68), 2.6.28-rc1",
     "allwinner+linux-2.6.36.git", "8edb08caf68^", "8edb08caf68", "commit",
     "fixed: MMS001 of mlock(2)/mlockall(2) through mlock_fixup -> __mlock_vma_pages_range; "
     "MMS004 lock_page stays (read hold); introduced: none"),
    ("vmscan: indexed LRU arrays, for_each_lru(l) (b69408e88bd), 2.6.28-rc1",
     "allwinner+linux-2.6.36.git", "b69408e88bd^", "b69408e88bd", "commit",
     "a refactoring: nothing introduced, nothing fixed (the reclaim waits under the lock stay)"),
    ("vmscan: split LRU lists into anon & file sets (4f98a2fee8a), 2.6.28-rc1",
     "allwinner+linux-2.6.36.git", "4f98a2fee8a^", "4f98a2fee8a", "commit",
     "nothing fixed (shrink_zone still reaches shrink_page_list/pageout under the lock)"),
    ("Manually revert \"mlock: downgrade mmap sem while populating mlocked regions\" (27421e211a3), 2.6.29-rc4",
     "allwinner+linux-2.6.36.git", "27421e211a3^", "27421e211a3", "commit",
     "introduced: MMS001 of mlock(2)/mlockall(2) through mlock_fixup -> __mlock_vma_pages_range; fixed: none"),
    ("mm: fix error case in mlock downgrade reversion (d5b562330ec), 2.6.29-rc4",
     "allwinner+linux-2.6.36.git", "d5b562330ec^", "d5b562330ec", "commit",
     "nothing introduced or fixed"),
    ("v2.6.27 -> v2.6.28", "allwinner+linux-2.6.36.git", "v2.6.27", "v2.6.28", "commit",
     "fixed: MMS001 mlock populate under write (downgraded); nothing fixed in reclaim"),
    ("v2.6.28 -> v2.6.29", "allwinner+linux-2.6.36.git", "v2.6.28", "v2.6.29", "commit",
     "introduced: MMS001 mlock populate under write (revert)"),
    ("v2.6.27 -> v2.6.29", "allwinner+linux-2.6.36.git", "v2.6.27", "v2.6.29", "commit",
     "nothing fixed in shrink_zone/reclaim (issue 15 saw 21 MMS004 called fixed)"),
    ("2.6.36 -> 2.6.37 release trees (fault retry, d065bd810b6d inside)", "replay-releases.git",
     "v2.6.36", "v2.6.37", "release",
     "fixed: MMS004 filemap_fault lock_page under the fault's read lock (lock_page_or_retry)"),
    ("4.3 -> 4.4 release trees (rmap trylock removal, b87537d9e2fe inside)", "replay-releases.git",
     "v4.3", "v4.4", "release",
     "fixed: MMS005 try_to_unmap_one's down_read_trylock(&mm->mmap_sem)"),
    ("4.19.304 -> 4.20 release trees (munmap zap under read, dd2283f2605e inside)", "replay-releases.git",
     "v4.19", "v4.20", "release",
     "fixed: MMS002 of munmap(2) and brk(2) shrink (downgrade before unmap_region); "
     "vm_munmap() (downgrade=false) stays"),
]

# Release commits that the bare repositories name only by commit id.
TAGS = {
    "allwinner+linux-2.6.36.git": {
        "v2.6.27": "3fa8749e584b55f1180411ab1b51117190bac1e5",
        "v2.6.28": "4a6908a3a050aacc9c3a2f36b276b46c0629ad91",
        "v2.6.29": "8e0ee43bc2c3e19db56a4adaa9a9b04ce885cd84",
        "v2.6.36": "f6f94e2ab1b33f0082ac22d71f66385a60d8157f",
    },
}


def resolve(repo: str, rev: str) -> str:
    return TAGS.get(os.path.basename(repo), {}).get(rev, rev)


LOCK_CALL = re.compile(r"\b(down_(?:read|write)\w*|up_(?:read|write)\w*|downgrade_write|"
                       r"mmap_(?:read|write)_\w+|mmap_assert_\w+)\s*\(")


DEF_LINE = re.compile(r"^(?:SYSCALL_DEFINE\d\((\w+)|(?:[A-Za-z_][\w \t\*]*?[ \t\*])?(\w+)\s*\()")
CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")


class Source:
    """Function bodies of one revision under PATHS (read once with git
    archive; a lexical index: a definition starts in column 0 and its body
    ends at the next `}` in column 0)."""

    def __init__(self, repo: str, rev: str):
        self.bodies: dict[str, str] = {}
        proc = subprocess.run(["git", "-C", repo, "archive", "--format=tar", rev, *PATHS],
                              capture_output=True)
        if proc.returncode != 0:
            return
        headers = []
        with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
            for member in tar:
                if not member.isfile() or not member.name.endswith((".c", ".h")):
                    continue
                data = tar.extractfile(member)
                if data is None:
                    continue
                text = data.read().decode("utf-8", "replace")
                if member.name.endswith(".h"):
                    headers.append(text)
                else:
                    self._index(text)
        # header definitions (inline stubs for other configurations) only for
        # names no .c file defines
        for text in headers:
            self._index(text)

    def _index(self, text: str) -> None:
        lines = text.split("\n")
        i = 0
        while i < len(lines):
            # `__do_page_fault(` in column 0 is a definition too (not only letters)
            m = DEF_LINE.match(lines[i]) if lines[i][:1].isalpha() or lines[i][:1] == "_" else None
            if m and not lines[i].rstrip().endswith(";") and not lines[i].startswith(("struct ", "#")):
                name = m.group(1) or m.group(2)
                end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("}")), None)
                opens = next((j for j in range(i, min(i + 12, len(lines))) if "{" in lines[j]), None)
                if end is not None and opens is not None and opens < end:
                    body = "\n".join(lines[opens:end])
                    # the first definition wins (static functions of one name in
                    # several files are rare in the paths replayed)
                    self.bodies.setdefault(name, body)
                    if m.group(1):
                        self.bodies.setdefault("sys_" + name, body)
                    i = end
            i += 1

    def calls(self, name: str) -> set[str]:
        body = self.bodies.get(name)
        return set(CALL.findall(body)) if body is not None else set()

    def reaches(self, src: str, dst: str, depth: int) -> bool:
        frontier, seen = {src}, {src}
        for _ in range(depth):
            nxt = set()
            for f in frontier:
                for c in self.calls(f):
                    if c == dst:
                        return True
                    if c in self.bodies and c not in seen:
                        seen.add(c)
                        nxt.add(c)
            frontier = nxt
        return False


def lock_calls(src: Source, name: str) -> list[str]:
    return LOCK_CALL.findall(src.bodies.get(name, ""))


def still_in_code(old: Source, new: Source, f: dict) -> str | bool | None:
    """A finding called fixed probably still exists when, in NEW, its holder
    still reaches its function (call graph of the lexical index, a few calls
    more than the old path), the function still calls the long operation, and
    no function of the old path that is still there changed its lock calls
    (acquire, release, downgrade, assertion): "path" when every call of the
    old path is still made in NEW (the same path is there), "reached" when
    the holder reaches the function only otherwise (another path, which a
    constant may decide: 2.6.28's memcg charge no longer allocates its
    page_cgroup, and memcg reclaim runs with `.order = 0`). None when the
    holder or the function is not found (renamed or moved out of the
    paths): no claim."""
    holder, function, op = f.get("holder"), f.get("function"), f.get("operation")
    path = list(f.get("call_path") or [holder])
    if holder not in new.bodies or function not in new.bodies:
        return None
    if op not in new.calls(function):
        return False
    if holder != function and not new.reaches(holder, function, len(path) + 2):
        return False
    for name in set(path) | {function}:
        if name in new.bodies and name in old.bodies and lock_calls(new, name) != lock_calls(old, name):
            return False
    same_path = all(a in new.bodies and b in new.calls(a) for a, b in zip(path, path[1:]))
    return "path" if same_path else "reached"


def line(f: dict) -> str:
    ctx = f" ctx {','.join(f['context'])}" if f.get("context") else ""
    return (f"{f.get('code')} {f.get('file')}:{f.get('line')} {f.get('function')} "
            f"holder {f.get('holder')} op {f.get('operation')}{ctx}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--git-dir", default=os.environ.get("CORPUS_GIT_DIR", "/work/corpus-cache"))
    ap.add_argument("--step", action="append", type=int, default=[],
                    help="run only these steps (1-based, as listed)")
    ap.add_argument("--keep-json", metavar="DIR")
    ap.add_argument("--all", action="store_true", help="list every finding, not the first 12")
    args = ap.parse_args()
    failed = False
    for i, (name, repo_name, old, new, kind, expected) in enumerate(STEPS, 1):
        if args.step and i not in args.step:
            continue
        repo = os.path.join(args.git_dir, repo_name)
        print(f"== {i}. {name} [{kind}]")
        print(f"   expected: {expected}")
        if not os.path.isdir(repo):
            print(f"   SKIPPED: no repository {repo} (scripts/replay-history.sh --setup)")
            failed = True
            continue
        o, n = resolve(repo, old), resolve(repo, new)
        proc = subprocess.run([args.binary, "diff", "--repo", repo, o, n, *PATHS, "--format", "json"],
                              capture_output=True, text=True)
        if proc.returncode not in (0, 1):
            print(f"   FAILED: exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
            failed = True
            continue
        out = json.loads(proc.stdout)
        if args.keep_json:
            os.makedirs(args.keep_json, exist_ok=True)
            with open(os.path.join(args.keep_json, f"step{i}.json"), "w") as fh:
                json.dump(out, fh, indent=1)
        intro, fixed = out.get("introduced", []), out.get("fixed", [])
        per = lambda fs: ", ".join(f"{k} {v}" for k, v in sorted(Counter(f["code"] for f in fs).items())) or "none"
        print(f"   files changed {len(out.get('changed_files', []))}; "
              f"findings {out['old']['findings']} -> {out['new']['findings']}; "
              f"introduced: {per(intro)}; fixed: {per(fixed)}; unchanged {len(out.get('unchanged', []))}")
        verdicts: list[bool | None] = []
        if fixed:
            old_src, new_src = Source(repo, o), Source(repo, n)
            verdicts = [still_in_code(old_src, new_src, f) for f in fixed]
        limit = None if args.all else 12
        for tag, fs in (("+", intro), ("-", fixed)):
            for i, f in enumerate(fs[:limit]):
                mark = ""
                if tag == "-" and verdicts[i] == "path":
                    mark = "   STILL IN CODE"
                elif tag == "-" and verdicts[i] == "reached":
                    mark = "   (holder reaches it by another path)"
                print(f"   {tag} {line(f)}{mark}")
            if limit is not None and len(fs) > limit:
                print(f"   {tag} ... {len(fs) - limit} more (--all)")
        print(f"   called fixed but still in the code (the same path, lock calls unchanged): "
              f"{sum(1 for v in verdicts if v == 'path')} of {len(fixed)}"
              f" ({sum(1 for v in verdicts if v == 'reached')} reached by another path, to read;"
              f" {sum(1 for v in verdicts if v is None)} not checked: a function not found)")
    return 3 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
