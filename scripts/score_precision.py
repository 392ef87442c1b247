#!/usr/bin/env python3
"""Scores `mmstall lint --format json` runs against the labelled precision corpus.

Usage: score_precision.py [--check] [--corpus FILE] TREE=LINT.json [TREE=LINT.json ...]

TREE is the corpus's tree name (`6.12`, `6.1`). A finding matches a corpus entry
on (tree, fingerprint, holder_file): the fingerprint is the analyzer's
line-insensitive one (rule, file, holder, function, the long call's text and
occurrence, call path), and the holder's file tells apart holders of the same
name (the arch `do_page_fault`s), so code moving up or down keeps the match.

Per rule (and per tree) it prints: reported, labelled (reported and in the
corpus), real, harmless, wrong, precision = (real + harmless) / labelled,
lost (labelled real, no longer reported), gone (labelled wrong or harmless,
no longer reported) and unlabelled (reported, not in the corpus).

Exit codes: 0 scored (and, with --check, every rule at precision >= 0.9 on
each tree and on all together, with nothing real lost); 1 --check failed; 2 usage or input error (the file and
the entry are named).
"""

import json
import sys
import tomllib
from collections import defaultdict
from pathlib import Path

THRESHOLD = 0.9
VERDICTS = ("real", "harmless", "wrong")
CODES = ("MMS001", "MMS002", "MMS003", "MMS004", "MMS005")
REQUIRED = {
    "tree": str,
    "code": str,
    "file": str,
    "line": int,
    "function": str,
    "operation": str,
    "holder": str,
    "holder_file": str,
    "call_path": list,
    "verdict": str,
    "class": str,
    "why": str,
    "lines": list,
    "fingerprint": str,
}


class InputError(Exception):
    pass


def key(tree, code, fingerprint, holder_file):
    return (tree, code, fingerprint, holder_file)


def load_corpus(path):
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as e:
        raise InputError(f"{path}: cannot read the corpus: {e.strerror}") from e
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path}: invalid TOML: {e}") from e
    entries = data.get("finding")
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{path}: no [[finding]] entries")
    corpus = {}
    for i, entry in enumerate(entries, 1):
        where = f"{path}: [[finding]] #{i}"
        for field, kind in REQUIRED.items():
            if not isinstance(entry.get(field), kind):
                raise InputError(f"{where}: `{field}` missing or not a {kind.__name__}")
        if entry["verdict"] not in VERDICTS:
            raise InputError(f"{where}: verdict `{entry['verdict']}` is not one of {', '.join(VERDICTS)}")
        if entry["code"] not in CODES:
            raise InputError(f"{where}: unknown rule code `{entry['code']}`")
        if entry["verdict"] != "real" and not entry["class"]:
            raise InputError(f"{where}: a {entry['verdict']} finding needs a cause class")
        k = key(entry["tree"], entry["code"], entry["fingerprint"], entry["holder_file"])
        if k in corpus:
            raise InputError(f"{where}: duplicate of an earlier entry (same matching key)")
        corpus[k] = entry
    return corpus


def load_run(tree, path):
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as e:
        raise InputError(f"{path}: cannot read the lint JSON: {e.strerror}") from e
    except json.JSONDecodeError as e:
        raise InputError(f"{path}:{e.lineno}: invalid JSON: {e.msg}") from e
    findings = data.get("findings") if isinstance(data, dict) else None
    if not isinstance(findings, list):
        raise InputError(f"{path}: not `mmstall lint --format json` output (no findings list)")
    keys = []
    for i, f in enumerate(findings):
        try:
            keys.append(key(tree, f["code"], f["fingerprint"], f["acquired_at"]["file"]))
        except (KeyError, TypeError) as e:
            raise InputError(f"{path}: finding #{i + 1} lacks {e}") from e
    return keys


def ratio(good, labelled):
    return good / labelled if labelled else None


def score(corpus, runs):
    """Per (tree or 'all', code): the counters."""
    rows = defaultdict(lambda: defaultdict(int))
    for tree, keys in runs.items():
        reported = set(keys)
        for k in keys:
            for scope in (tree, "all"):
                row = rows[(scope, k[1])]
                row["reported"] += 1
                entry = corpus.get(k)
                if entry is None:
                    row["unlabelled"] += 1
                else:
                    row["labelled"] += 1
                    row[entry["verdict"]] += 1
        for k, entry in corpus.items():
            if k[0] != tree or k in reported:
                continue
            for scope in (tree, "all"):
                row = rows[(scope, k[1])]
                row["lost" if entry["verdict"] == "real" else "gone"] += 1
    return rows


def main(argv):
    check = False
    corpus_path = Path(__file__).resolve().parent.parent / "corpus/precision/findings.toml"
    runs_args = []
    args = iter(argv)
    for a in args:
        if a == "--check":
            check = True
        elif a == "--corpus":
            corpus_path = Path(next(args, ""))
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        elif "=" in a and not a.startswith("-"):
            runs_args.append(a.split("=", 1))
        else:
            print(f"score-precision: unknown argument `{a}` (see --help)", file=sys.stderr)
            return 2
    if not runs_args:
        print("score-precision: give at least one TREE=LINT.json (see --help)", file=sys.stderr)
        return 2
    try:
        corpus = load_corpus(corpus_path)
        runs = {tree: load_run(tree, path) for tree, path in runs_args}
    except InputError as e:
        print(f"score-precision: {e}", file=sys.stderr)
        return 2
    trees_in_corpus = {k[0] for k in corpus}
    for tree in runs:
        if tree not in trees_in_corpus:
            print(f"score-precision: warning: the corpus has no entry for tree `{tree}`", file=sys.stderr)
    rows = score(corpus, runs)
    cols = ("reported", "labelled", "real", "harmless", "wrong", "precision", "lost", "gone", "unlabelled")
    print(f"{'tree':<6} {'rule':<7} " + " ".join(f"{c:>10}" for c in cols))
    failed = []
    scopes = list(runs) + (["all"] if len(runs) > 1 else [])
    for scope in scopes:
        for code in CODES:
            row = rows.get((scope, code))
            if row is None:
                continue
            p = ratio(row["real"] + row["harmless"], row["labelled"])
            cells = [str(row[c]) if c != "precision" else ("-" if p is None else f"{p:.2f}") for c in cols]
            print(f"{scope:<6} {code:<7} " + " ".join(f"{c:>10}" for c in cells))
            # Each tree on its own, and all together: a rule good on one
            # tree only is not good enough.
            if p is not None and p < THRESHOLD:
                failed.append(f"{scope} {code}: precision {p:.2f} < {THRESHOLD}")
            if scope == scopes[-1] and row["lost"]:
                failed.append(f"{code}: {row['lost']} finding(s) labelled real no longer reported")
    reported = {tree: set(keys) for tree, keys in runs.items()}
    lost = [
        e
        for k, e in sorted(corpus.items())
        if k[0] in runs and e["verdict"] == "real" and k not in reported[k[0]]
    ]
    for e in lost:
        print(f"lost: {e['tree']} {e['code']} {e['file']}:{e['line']} holder {e['holder']} ({e['holder_file']})")
    if check and failed:
        for f in failed:
            print(f"score-precision: check failed: {f}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
