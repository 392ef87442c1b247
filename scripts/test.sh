#!/usr/bin/env bash
# The whole test suite: installs what it needs (idempotent), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo test --workspace --release 2>&1
