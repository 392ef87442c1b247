#!/usr/bin/env python3
"""The layout rules of ARCHITECTURE.md, checked (scripts/test.sh runs this).

- No module cycle inside a crate: module A naming B (`crate::B`, `super::B`)
  while B names A, directly or through others. A parent module declaring and
  re-exporting its children is not a use; test modules (`#[cfg(test)]` to the
  end of the file) do not count.
- No source file over 700 lines before its test module.

Usage: python3 scripts/check-layout.py [CRATE_DIR...]   (default: every
workspace member). Exit: 0 clean, 1 a rule broken (each named), 2 usage.
"""
import os
import re
import sys

MAX_LINES = 700


def members(root):
    text = open(os.path.join(root, "Cargo.toml"), encoding="utf-8").read()
    m = re.search(r"members\s*=\s*\[([^\]]*)\]", text)
    return re.findall(r'"([^"]+)"', m.group(1)) if m else []


def modules(src):
    """Module path ('a::b', '' for the crate root) -> file."""
    mods = {}
    for dirpath, _, files in os.walk(src):
        for f in files:
            if f.endswith(".rs"):
                path = os.path.join(dirpath, f)
                parts = os.path.relpath(path, src)[:-3].split(os.sep)
                if parts[-1] in ("mod", "lib", "main"):
                    parts = parts[:-1]
                mods["::".join(parts)] = path
    return mods


def non_test_text(path):
    text = open(path, encoding="utf-8").read()
    cut = text.find("#[cfg(test)]")
    return text if cut < 0 else text[:cut]


def uses(module, text, mods):
    """The modules `module` names, outside comments."""
    text = re.sub(r"//[^\n]*", "", text)
    here = module.split("::") if module else []
    named = set(re.findall(r"crate::((?:[a-z_0-9]+::)*[a-z_0-9]+)", text))
    for supers, rest in re.findall(r"((?:super::)+)((?:[a-z_0-9]+::)*[a-z_0-9]+)", text):
        up = supers.count("super::")
        named.add("::".join(here[: max(len(here) - up, 0)] + rest.split("::")))
    out = set()
    for name in named:
        segs = name.split("::")
        for k in range(len(segs), 0, -1):
            candidate = "::".join(segs[:k])
            if candidate in mods:
                out.add(candidate)
                break
    return out


def related(a, b):
    """Parent and child (or the crate root): declaring is not using."""
    return a == "" or b == "" or a.startswith(b + "::") or b.startswith(a + "::")


def cycles(graph):
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main(argv):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    crates = argv or members(root)
    if not crates:
        print("check-layout: no crates", file=sys.stderr)
        return 2
    problems = []
    for crate in crates:
        src = os.path.join(root, crate, "src")
        if not os.path.isdir(src):
            print(f"check-layout: {crate}: no src/ directory", file=sys.stderr)
            return 2
        mods = modules(src)
        graph = {}
        for module, path in mods.items():
            text = non_test_text(path)
            lines = text.count("\n")
            if lines > MAX_LINES:
                problems.append(f"{os.path.relpath(path, root)}: {lines} lines before its tests (at most {MAX_LINES})")
            graph[module] = {m for m in uses(module, text, mods) if m != module and not related(module, m)}
        for group in cycles(graph):
            problems.append(f"{crate}: module cycle: {' <-> '.join(group)}")
    for p in problems:
        print(p)
    print(f"check-layout: {len(crates)} crates, {'ok' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
