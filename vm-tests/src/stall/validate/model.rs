//! What a validation is given ([`Options`]), what it produces
//! ([`Validation`] and its parts, written as `validation.json`) and why it
//! can stop ([`ValidateError`]): the types the stages share.

use crate::boot::Outcome;
use crate::kvm::AccelChoice;
use crate::stall::analyzer_diff::AnalyzerCheck;
use mmstall_stall_judge::judge::Spread;
use mmstall_stall_judge::GuestReport;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Why a validation could not run to its verdict (a failed expectation is
/// not an error: it is in [`Validation::ok`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidateError {
    /// The manifest, `--series`, the guest program: exit 2.
    #[error("{0}")]
    Input(String),
    /// A build, a boot, the tree, writing results: exit 3.
    #[error("{0}")]
    Infra(String),
}

impl ValidateError {
    /// `mmstall vm validate`'s exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            ValidateError::Input(_) => 2,
            ValidateError::Infra(_) => 3,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub manifest: PathBuf,
    /// Passed to the guest (`--thresholds`); None: the guest's built-in copy.
    pub thresholds: Option<PathBuf>,
    pub guest: PathBuf,
    /// Only these series (names); None: all.
    pub only: Option<Vec<String>>,
    /// Suite runs (boots) on the baseline and on each regression kernel.
    pub baseline_runs: u32,
    pub runs: u32,
    /// Override of every test's repetitions.
    pub repeat: Option<u32>,
    pub config: String,
    pub jobs: Option<usize>,
    pub memory: String,
    pub cpus: u32,
    pub boot_timeout: Duration,
    pub cmd_timeout: Duration,
    pub kvm: AccelChoice,
    /// Run directories and validation.json go here.
    pub out: PathBuf,
    /// `mmstall` binary whose `lint --format json` diffs each series with an
    /// `analyzer_rule`; None: no analyzer check.
    pub lint: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SuiteRun {
    pub dir: PathBuf,
    pub outcome: Outcome,
    pub boot_secs: Option<f64>,
    pub command_secs: Option<f64>,
    /// Test name → verdict word (from the KTAP output).
    pub verdicts: BTreeMap<String, String>,
    pub report: Option<GuestReport>,
    /// Kernel reports found in the console log (kind: first line).
    pub events: Vec<String>,
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KernelResult {
    /// `baseline` or the series name.
    pub kernel: String,
    pub build_dir: PathBuf,
    pub build_secs: f64,
    pub build_cached: bool,
    pub files_compiled: usize,
    pub runs: Vec<SuiteRun>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub series: String,
    pub test: String,
    pub kernel: String,
    pub expected: String,
    /// The verdict in each run.
    pub got: Vec<String>,
    pub ok: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct VariantSpread {
    pub kernel: String,
    pub test: String,
    pub variant: String,
    /// Over every valid repetition of every run.
    pub ratio: Option<Spread>,
    /// The median ratio of each run.
    pub run_medians: Vec<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    pub version: u32,
    pub manifest: PathBuf,
    pub kernels: Vec<KernelResult>,
    pub checks: Vec<Check>,
    pub spreads: Vec<VariantSpread>,
    pub analyzer: Vec<AnalyzerCheck>,
    pub ok: bool,
}
