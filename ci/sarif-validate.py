#!/usr/bin/env python3
"""Validates SARIF files against the SARIF 2.1.0 JSON schema.

The schema is the one Microsoft ships inside the npm package of its SARIF
multitool (@microsoft/sarif-multitool-linux/sarif-2.1.0.json), which
scripts/setup.sh installs into $MMSTALL_CACHE/tools/sarif-multitool; the
validator is jsonschema (PyPI), with format checks. The multitool's own
`validate` command runs offline but reported nothing on a SARIF file with a
missing `message` and an invalid `level`, so the schema is applied directly.

Usage: python3 ci/sarif-validate.py FILE.sarif...
Prints FILE: JSON-PATH: MESSAGE per problem.
Exit: 0 valid, 1 problems found, 2 usage or installation error.
"""
import json
import os
import sys


def schema_path():
    if os.environ.get("MMSTALL_SARIF_SCHEMA"):
        return os.environ["MMSTALL_SARIF_SCHEMA"]
    cache = os.environ.get("MMSTALL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "mmstall",
    )
    return os.path.join(cache, "tools", "sarif-multitool", "node_modules", "@microsoft",
                        "sarif-multitool-linux", "sarif-2.1.0.json")


def main(files):
    if not files:
        print("usage: python3 ci/sarif-validate.py FILE.sarif...", file=sys.stderr)
        return 2
    try:
        import jsonschema
    except ImportError:
        print("jsonschema is not installed (scripts/setup.sh installs it)", file=sys.stderr)
        return 2
    path = schema_path()
    try:
        with open(path, encoding="utf-8") as f:
            schema = json.load(f)
    except OSError as e:
        print(f"the SARIF 2.1.0 schema is not installed ({e}; scripts/setup.sh installs it)",
              file=sys.stderr)
        return 2
    cls = jsonschema.validators.validator_for(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    problems = 0
    for name in files:
        try:
            with open(name, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            print(f"{name}: not readable as JSON: {e}")
            problems += 1
            continue
        for e in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
            where = "/".join(str(p) for p in e.absolute_path) or "(root)"
            print(f"{name}: {where}: {e.message}")
            problems += 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
