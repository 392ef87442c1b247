//! The stall tests' shared vocabulary, linked by both sides: the guest
//! program (vm-tests/guest/, which measures inside the booted kernel) and
//! the host harness (`mmstall_vm::stall`, which validates and reports).
//! Kept apart so the guest does not link the harness (builds, boots, trees).
//!
//! - [`thresholds`] — vm-tests/thresholds.toml: each test's variants,
//!   sizes and judging parameters
//! - [`judge`] — repetitions, ratios, verdicts of a variant and of a test
//! - [`ktap`] — KTAP v1 writer (guest) and parser (host)
//! - [`GuestReport`] — the JSON file the guest writes
//! - [`holds`] — mmap_lock trace text → events → holds (`mmstall confirm`)
//! - [`confirm_report`] — the JSON file `mmstall-guest confirm` writes

pub mod confirm_report;
pub mod holds;
pub mod judge;
pub mod ktap;
pub mod thresholds;

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
