//! `mmstall confirm`: measure in a booted kernel how long each static
//! finding really holds mmap_lock.
//!
//! - [`findings`] — the findings to confirm (lint JSON)
//! - [`catalogue`] — vm-tests/confirm.toml: holder → recipes and frames
//! - [`matching`] — the guest's holds → an outcome per finding, discovery
//! - [`report`] — the outcome table (text) and the JSON document
//! - [`run`] — the kernel's findings, one boot running the recipes, the result
//!
//! The guest side is `mmstall-guest confirm` (vm-tests/guest/src/
//! trace_holds.rs, recipes.rs); trace parsing and pairing are shared in
//! `mmstall_stall_judge::holds`.

pub mod catalogue;
pub mod findings;
pub mod matching;
pub mod report;
pub mod run;
