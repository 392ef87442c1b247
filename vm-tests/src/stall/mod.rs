//! Stall-regression tests (issue 6): the guest program `mmstall-guest`
//! (vm-tests/guest/) measures, the host judges and validates.
//!
//! - [`ktap`], [`thresholds`], [`judge`], [`GuestReport`] — the vocabulary
//!   the guest shares with the host, in their own crate
//!   (vm-tests/stall-judge/, `mmstall_stall_judge`) re-exported here
//! - [`manifest`] — patches/manifest.toml (regression series and what each must flip)
//! - [`analyzer_diff`] — the static analyzer over each regression series (new findings)
//! - [`validate`] — `mmstall vm validate` (build baseline + each series, boot, run, check)
//!
//! See vm-tests/STALL-TESTS.md.

pub mod analyzer_diff;
pub mod manifest;
pub mod validate;

pub use mmstall_stall_judge::{
    confirm_report, holds, judge, ktap, thresholds, GuestReport, TestReport,
};
