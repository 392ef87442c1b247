//! Stall-regression tests (issue 6): the guest program `mmstall-guest`
//! (vm-tests/guest/) measures, the host judges and validates.
//!
//! - [`ktap`] — KTAP v1 writer (guest) and parser (host)
//! - [`thresholds`] — vm-tests/thresholds.toml
//! - [`judge`] — ratios, repetitions, verdicts
//! - [`manifest`] — patches/manifest.toml (regression series and what each must flip)
//! - [`analyzer_diff`] — the static analyzer over each regression series (new findings)
//! - [`validate`] — `mmstall vm validate` (build baseline + each series, boot, run, check)
//!
//! See vm-tests/STALL-TESTS.md.

pub mod analyzer_diff;
pub mod judge;
pub mod ktap;
pub mod manifest;
pub mod thresholds;
pub mod validate;

use serde::{Deserialize, Serialize};

/// The JSON file the guest program writes (`--json FILE`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuestReport {
    pub version: u32,
    pub kernel_release: String,
    pub thresholds_source: String,
    /// What the suite did to transparent huge pages (and what they were).
    pub thp: String,
    pub tests: Vec<TestReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestReport {
    pub name: String,
    pub verdict: ktap::Verdict,
    pub variants: Vec<judge::VariantResult>,
    /// Wall-clock seconds the test took in the guest (all variants and
    /// repetitions); JUnit's `time` of its test case. Absent in older reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
}
