//! mmstall's kernel harness: build kernels from config fragments (optionally
//! with a patch series applied) and boot them under QEMU with virtme-ng.
//!
//! Stages, one module each (config → build → boot → run → judge → report):
//! - [`config`]: fragment parsing and merging, `olddefconfig` survivor check
//! - [`tree`]: kernel source trees (`debian:6.12` or a directory, the one
//!   parser of that form), their identity, the scratch copy builds use
//! - [`build`]: cached out-of-tree builds with ccache; incremental patched builds
//! - [`boot`]: virtme-ng runs with boot and command timeouts, console/dmesg saved
//! - [`kvm`]: whether KVM really runs guests here (probe boot) and the one
//!   KVM-or-TCG choice ([`kvm::choose`])
//! - [`logscan`]: kernel reports in console logs → structured events
//! - [`stall`]: the stall tests' validation (judging types in `mmstall_stall_judge`)
//! - [`doctor`]: what is installed and working
//! - [`confirm`]: `mmstall confirm`: each static finding's measured hold in a
//!   booted kernel (mmap_lock tracepoints), and long holds no finding explains
//! - [`kselftest`]: the kernel's mm selftests, built from the same tree, run in the guest
//!
//! Plumbing written once: [`cache`] (the cache root, shared with the CLI and
//! nightly; an empty variable counts as unset) and [`process`] (which,
//! quoting, spawning with drained pipes and deadlines, killing a process
//! tree); [`patches`] (series loading, applying), [`suites`] (built-in guest
//! scripts).
//!
//! See vm-tests/README.md for the commands and measured times.

pub mod boot;
pub mod build;
pub mod cache;
pub mod config;
pub mod confirm;
pub mod doctor;
pub mod kselftest;
pub mod kvm;
pub mod logscan;
pub mod patches;
pub mod process;
pub mod stall;
pub mod suites;
pub mod tree;
