#!/usr/bin/env bash
# The full validation (the README's second tier; the nightly workflow runs it):
# every regression series of patches/manifest.toml on every config it names
# (the no-per-vma-lock kernels are a second cold build), every repetition,
# and the nightly job with every failure class (harmless series, build
# failure, boot hang, series that does not apply) on real kernels, the
# kernel's mm selftests (harness, then the nightly's functional-regression
# verdict on an mlock regression series), and `mmstall confirm` measuring
# the munmap finding on the baseline and its series. The test
# command (scripts/test.sh) runs the CI tier of the same tests.
#
# Prints a timing table and a closing "N passed, N failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."

export MMSTALL_KERNEL_TESTS=1
export MMSTALL_REQUIRE_TREE=1
export MMSTALL_FULL_VALIDATION=1

source scripts/lib/steps.sh

step "setup (scripts/setup.sh)" bash scripts/setup.sh || finish
step "cargo build (release, bins + tests)" \
  bash -c 'cargo build --release --workspace --bins && cargo test --workspace --release --no-run' || finish
step "kernel: build, boot, patch (vm-tests kernel)" \
  cargo test --workspace --release --test kernel -- --nocapture
step "kernel: stall validation, every series and config" \
  cargo test --workspace --release --test stall -- --nocapture
step "kernel: nightly, every failure class" \
  cargo test --workspace --release --test nightly_kernel -- --nocapture
step "kernel: mm selftests, baseline and mlock regression (kselftest-mm config)" \
  cargo test --workspace --release --test kselftest -- --nocapture
step "kernel: nightly with the mm selftests, functional regression (kselftest-mm config)" \
  cargo test --workspace --release --test nightly_kselftest -- --nocapture
step "kernel: confirm, munmap finding on the baseline and the munmap series" \
  cargo test --workspace --release --test confirm -- --nocapture
step "kernel: nightly with [confirm], the munmap series' finding measured on both kernels" \
  cargo test --workspace --release --test nightly_confirm -- --nocapture
finish
