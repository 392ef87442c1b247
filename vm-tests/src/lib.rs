//! mmstall's kernel harness: build kernels from config fragments (optionally
//! with a patch series applied) and boot them under QEMU with virtme-ng.
//!
//! Stages, one module each:
//! - [`config`]: fragment parsing and merging, `olddefconfig` survivor check
//! - [`tree`]: kernel source trees, their identity, the scratch copy builds use
//! - [`build`]: cached out-of-tree builds with ccache; incremental patched builds
//! - [`boot`]: virtme-ng runs with boot and command timeouts, console/dmesg saved
//! - [`kvm`]: whether KVM really runs guests here (probe boot) and what to pass
//! - [`logscan`]: kernel reports in console logs → structured events
//! - [`doctor`]: what is installed and working
//! - [`kselftest`]: the kernel's mm selftests, built from the same tree, run in the guest
//!
//! See vm-tests/README.md for the commands and measured times.

pub mod boot;
pub mod build;
pub mod cache;
pub mod config;
pub mod doctor;
pub mod kselftest;
pub mod kvm;
pub mod logscan;
pub mod patches;
pub mod stall;
pub mod suites;
pub mod tree;
