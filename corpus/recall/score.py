#!/usr/bin/env python3
"""Score an mmstall binary against the labelled cross-era corpus.

Reads corpus/recall/functions.toml (labels: version, file, function, expected
flag/clean, rule, optional holder/context/via/not_via/at/operation), runs `mmstall lint
--format json` once per kernel tree over a scratch tree of hard links (mm/ and
the labelled files, see [scope]), and prints recall (flag labels found) and
clean-kept (clean labels with no matching finding) per era group and overall,
with every miss and the findings that mention its function.

Python 3.11, standard library only. Exit codes: 0 every group meets the
target, 1 a group is below it, 2 usage or label-file error, 3 a tree is
missing or the binary failed (the other trees are still scored).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field

ERAS = ("2.6", "3.x-4.x", "5.x", "6.x")
RULES = {"MMS001", "MMS002", "MMS003", "MMS004", "MMS005"}


def era_of(version: str) -> str:
    major = version.split(".")[0]
    if version.startswith("2.6"):
        return "2.6"
    if major in ("3", "4"):
        return "3.x-4.x"
    if major == "5":
        return "5.x"
    if major == "6":
        return "6.x"
    raise ValueError(f"version {version!r} is in no era group")


@dataclass
class Label:
    index: int
    version: str
    file: str
    function: str
    expected: str
    rule: str
    why: str
    lines: list[str]
    holder: str | None = None
    context: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)
    not_via: list[str] = field(default_factory=list)
    at: list[str] = field(default_factory=list)
    operation: list[str] = field(default_factory=list)
    issue_class: int | None = None
    seed: str | None = None

    @property
    def era(self) -> str:
        return era_of(self.version)

    def name(self) -> str:
        extra = []
        if self.holder:
            extra.append(f"holder {self.holder}")
        if self.context:
            extra.append(",".join(self.context))
        if self.via:
            extra.append("via " + " > ".join(self.via))
        if self.not_via:
            extra.append("not via " + ", ".join(self.not_via))
        if self.at:
            extra.append("at " + ", ".join(self.at))
        if self.operation:
            extra.append("op " + "|".join(self.operation))
        tail = f" [{'; '.join(extra)}]" if extra else ""
        return f"{self.version} {self.file} {self.function} {self.expected} {self.rule}{tail}"


class LabelError(Exception):
    pass


def load_labels(path: str) -> tuple[list[Label], list[str]]:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise LabelError(f"{path}: {err}") from err
    scope = data.get("scope", {}).get("paths", ["mm"])
    labels = []
    for i, raw in enumerate(data.get("function", []), 1):
        where = f"{path}: [[function]] #{i}"
        for key in ("version", "file", "function", "expected", "rule", "why", "lines"):
            if key not in raw:
                raise LabelError(f"{where}: missing key `{key}`")
        if raw["expected"] not in ("flag", "clean"):
            raise LabelError(f"{where}: expected must be flag or clean, not {raw['expected']!r}")
        if raw["rule"] not in RULES:
            raise LabelError(f"{where}: unknown rule {raw['rule']!r}")
        try:
            era_of(raw["version"])
        except ValueError as err:
            raise LabelError(f"{where}: {err}") from err
        known = {"version", "file", "function", "expected", "rule", "why", "lines", "holder",
                 "context", "via", "not_via", "at", "operation",
                 "class", "seed"}
        unknown = set(raw) - known
        if unknown:
            raise LabelError(f"{where}: unknown key(s) {sorted(unknown)}")
        labels.append(Label(
            index=i, version=raw["version"], file=raw["file"], function=raw["function"],
            expected=raw["expected"], rule=raw["rule"], why=raw["why"], lines=list(raw["lines"]),
            holder=raw.get("holder"), context=list(raw.get("context", [])),
            via=list(raw.get("via", [])), not_via=list(raw.get("not_via", [])),
            at=list(raw.get("at", [])), operation=list(raw.get("operation", [])),
            issue_class=raw.get("class"), seed=raw.get("seed")))
    return labels, list(scope)


def in_order(needles: list[str], hay: list[str]) -> bool:
    it = iter(hay)
    return all(any(n == h for h in it) for n in needles)


def matches(label: Label, finding: dict) -> bool:
    """A finding speaks about the label: same rule, and the labelled function is
    where the long call is, the holder, on the call path, or the (opaque) long
    operation itself. `holder`, `context` (constant arguments), `via` (functions
    on the call path, in order) and `not_via` narrow it to one path."""
    if finding.get("code") != label.rule:
        return False
    path = finding.get("call_path") or []
    names = {finding.get("function"), finding.get("holder"), finding.get("operation"), *path}
    if label.function not in names:
        return False
    if (finding.get("function") == label.function and finding.get("file") != label.file
            and label.function not in path):
        return False  # a same-named static function of another file
    if label.holder and finding.get("holder") != label.holder:
        return False
    if not in_order(label.via, path):
        return False
    if any(n in path for n in label.not_via):
        return False
    if label.operation and finding.get("operation") not in label.operation:
        return False
    ctx = finding.get("context") or []
    if label.at and f"{finding.get('file')}:{finding.get('line')}" in label.at:
        return True  # reported at the labelled call itself (opaque callee)
    if label.at and finding.get("function") != label.function:
        return False
    return all(c in ctx for c in label.context)


def mentions(label: Label, finding: dict) -> bool:
    names = {finding.get("function"), finding.get("holder"), finding.get("operation")}
    names.update(finding.get("call_path") or [])
    return label.function in names


def scratch_tree(tree: str, paths: list[str], dest: str) -> list[str]:
    """Hard-link the selected paths of `tree` into `dest` (no copy of data, and
    nothing is ever written into the tree). Returns the paths that are absent."""
    absent = []
    for rel in sorted(set(paths)):
        src = os.path.join(tree, rel)
        if not os.path.exists(src):
            absent.append(rel)
            continue
        dst = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.isdir(src):
            if not os.path.exists(dst):
                shutil.copytree(src, dst, copy_function=os.link)
        elif not os.path.exists(dst):
            os.link(src, dst)
    return absent


def run_lint(binary: str, root: str, extra: list[str]) -> tuple[dict | None, str, float]:
    start = time.monotonic()
    try:
        proc = subprocess.run([binary, "lint", root, "--format", "json", *extra],
                              capture_output=True, text=True, check=False)
    except OSError as err:
        return None, f"cannot run {binary}: {err}", 0.0
    elapsed = time.monotonic() - start
    if proc.returncode not in (0, 1):
        return None, f"exit {proc.returncode}: {proc.stderr.strip()[-400:]}", elapsed
    try:
        return json.loads(proc.stdout), proc.stderr, elapsed
    except json.JSONDecodeError as err:
        return None, f"output is not JSON: {err}", elapsed


def ratio(n: int, d: int) -> str:
    return f"{n}/{d} = {n / d:.2f}" if d else "-"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", required=True, help="the mmstall binary to score")
    ap.add_argument("--labels", default=os.path.join(os.path.dirname(__file__), "functions.toml"))
    ap.add_argument("--corpus", default=os.path.join(
        os.environ.get("MMSTALL_CACHE", os.path.expanduser("~/.cache/mmstall")), "corpus"),
        help="directory holding one extracted tree per VERSION (scripts/corpus-trees.sh)")
    ap.add_argument("--version", action="append", default=[], help="score only these versions")
    ap.add_argument("--whole-tree", action="store_true", help="lint the whole tree, not the scope")
    ap.add_argument("--keep-json", metavar="DIR", help="write each tree's lint output there")
    ap.add_argument("--from-json", metavar="DIR",
                    help="score the outputs a --keep-json run left there instead of running lint")
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--lint-arg", action="append", default=[], help="extra argument for lint")
    ap.add_argument("--show-hits", action="store_true",
                    help="also list the finding that satisfies each flag label")
    args = ap.parse_args()

    try:
        labels, scope = load_labels(args.labels)
    except LabelError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not os.access(args.binary, os.X_OK):
        print(f"error: {args.binary} is not an executable", file=sys.stderr)
        return 2
    versions = sorted({lb.version for lb in labels}, key=lambda v: [int(x) for x in v.split(".")])
    if args.version:
        unknown = set(args.version) - set(versions)
        if unknown:
            print(f"error: no labels for version(s) {sorted(unknown)}", file=sys.stderr)
            return 2
        versions = [v for v in versions if v in args.version]

    infra = False
    results: dict[int, tuple[bool, list[dict]]] = {}  # label index -> (ok, related findings)
    unscored: list[Label] = []
    timings = []
    for version in versions:
        mine = [lb for lb in labels if lb.version == version]
        tree = os.path.join(args.corpus, version)
        if args.from_json:
            saved = os.path.join(args.from_json, f"{version}.json")
            try:
                with open(saved) as fh:
                    out, elapsed = json.load(fh), 0.0
            except (OSError, json.JSONDecodeError) as err:
                print(f"{version}: cannot read {saved}: {err}", file=sys.stderr)
                infra = True
                unscored.extend(mine)
                continue
        elif not os.path.isdir(tree):
            print(f"{version}: tree missing at {tree} (scripts/corpus-trees.sh {version})",
                  file=sys.stderr)
            infra = True
            unscored.extend(mine)
            continue
        else:
            with tempfile.TemporaryDirectory(prefix=f"mmstall-recall-{version}-") as tmp:
                if args.whole_tree:
                    root = tree
                else:
                    root = os.path.join(tmp, "tree")
                    absent = scratch_tree(tree, scope + [lb.file for lb in mine], root)
                    for rel in absent:
                        print(f"{version}: {rel} not in the tree", file=sys.stderr)
                out, err, elapsed = run_lint(args.binary, root, args.lint_arg)
            if out is None:
                print(f"{version}: lint failed: {err}", file=sys.stderr)
                infra = True
                unscored.extend(mine)
                continue
        findings = out.get("findings", [])
        timings.append((version, elapsed, len(findings)))
        if args.keep_json:
            os.makedirs(args.keep_json, exist_ok=True)
            with open(os.path.join(args.keep_json, f"{version}.json"), "w") as fh:
                json.dump(out, fh, indent=1)
        # lint reports files relative to the linted root: the scratch root and
        # the tree root are the same layout.
        for lb in mine:
            hits = [f for f in findings if matches(lb, f)]
            ok = bool(hits) if lb.expected == "flag" else not hits
            related = hits if hits else [f for f in findings if mentions(lb, f)]
            results[lb.index] = (ok, related)

    print(f"mmstall recall corpus: {len(labels)} labels, {len(versions)} trees, binary {args.binary}")
    for version, elapsed, n in timings:
        how = f"read from {args.from_json}" if args.from_json else f"lint {elapsed:.1f} s"
        print(f"  {version:>7}: {n:4d} findings, {how}")
    print()
    print(f"{'era':<9} {'recall (flag found)':<22} {'clean-kept':<22}")
    below = False
    totals = [0, 0, 0, 0]
    for era in ERAS:
        group = [lb for lb in labels if lb.era == era and lb.index in results]
        flags = [lb for lb in group if lb.expected == "flag"]
        cleans = [lb for lb in group if lb.expected == "clean"]
        found = sum(results[lb.index][0] for lb in flags)
        kept = sum(results[lb.index][0] for lb in cleans)
        totals = [totals[0] + found, totals[1] + len(flags), totals[2] + kept, totals[3] + len(cleans)]
        print(f"{era:<9} {ratio(found, len(flags)):<22} {ratio(kept, len(cleans)):<22}")
        for n, d in ((found, len(flags)), (kept, len(cleans))):
            if d and n / d < args.target:
                below = True
    print(f"{'overall':<9} {ratio(totals[0], totals[1]):<22} {ratio(totals[2], totals[3]):<22}")
    misses = [lb for lb in labels if lb.index in results and not results[lb.index][0]]
    if misses:
        print(f"\nmisses ({len(misses)}):")
    for lb in misses:
        kind = "missed" if lb.expected == "flag" else "reported"
        cls = f" (class {lb.issue_class})" if lb.issue_class else ""
        print(f"- {kind}{cls}: {lb.name()}")
        print(f"    decides: {', '.join(lb.lines)}: {lb.why}")
        for f in results[lb.index][1][:4]:
            print(f"    finding: {f.get('code')} {f.get('file')}:{f.get('line')} in {f.get('function')}"
                  f" holder {f.get('holder')} op {f.get('operation')}"
                  f" path {' > '.join(f.get('call_path') or [])}"
                  + (f" ctx {','.join(f['context'])}" if f.get("context") else ""))
        if not results[lb.index][1]:
            print("    no finding mentions this function")
    if args.show_hits:
        print("\nhits:")
        for lb in labels:
            if lb.index in results and results[lb.index][0] and lb.expected == "flag":
                f = results[lb.index][1][0]
                print(f"+ {lb.name()}\n    by {f.get('code')} {f.get('file')}:{f.get('line')}"
                      f" in {f.get('function')} holder {f.get('holder')} op {f.get('operation')}"
                      f" path {' > '.join((f.get('call_path') or [])[:6])}")
    for lb in unscored:
        print(f"- not scored (tree or lint missing): {lb.name()}")
    if infra:
        return 3
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
