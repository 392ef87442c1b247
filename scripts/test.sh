#!/usr/bin/env bash
# The whole test suite: installs what it needs (idempotent), then runs every
# test, including the ones on Debian's linux-source-6.12 (required here, so a
# missing tree fails instead of skipping).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MMSTALL_REQUIRE_TREE=1
cargo test --workspace --release 2>&1
