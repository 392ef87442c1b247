//! `mmstall vm validate`: proof that each stall test has teeth.
//!
//! Builds the baseline kernel and one kernel per regression series of
//! patches/manifest.toml (incrementally, through [`crate::build`]), boots each
//! with virtme-ng, runs the guest suite (`mmstall-guest suite`) `runs` times,
//! and checks every expectation of the manifest: the verdict of a test on
//! the baseline and on its regression kernel, in every run. Prints the
//! validation table (test × kernel, with the measured ratios) and writes
//! `validation.json`.
//!
//! Stages, one file each: [`plan`] (series, base tree, the kernels to build
//! and the tests each runs) → [`run`] (build, boot, the guest suite, its
//! KTAP and JSON read back) → [`report`] (expectations checked, spreads,
//! tables, the printed text). [`validate`] strings them together; a failure
//! that stops it is a [`ValidateError`], which carries the CLI's exit code.

mod plan;
mod report;
mod run;

pub use plan::{config_label, kernel_name};
pub use report::{checks, render, spread_table, spreads, table, word};
pub use run::{guest_script, suite_run_from};

use super::analyzer_diff::{self, AnalyzerCheck, AnalyzerStatus};
use super::judge::Spread;
use super::GuestReport;
use crate::boot::Outcome;
use crate::cache::Cache;
use crate::kvm::AccelChoice;
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

/// Runs the whole validation. Errors: the manifest, the guest binary, a
/// build (named by series). Test failures are in the result (`ok`).
pub fn validate(o: &Options, cache: &Cache) -> Result<Validation, ValidateError> {
    let series = plan::select_series(o)?;
    if !o.guest.is_file() {
        return Err(ValidateError::Input(format!(
            "guest program {} not found: build it with `cargo build --release -p mmstall-guest` (or pass --guest)",
            o.guest.display()
        )));
    }
    let (base, tree) = plan::base_tree(o, &series)?;
    std::fs::create_dir_all(&o.out)
        .map_err(|e| ValidateError::Infra(format!("creating {}: {e}", o.out.display())))?;
    let mut kernels = Vec::new();
    for planned in plan::plan(o, &series) {
        kernels.push(run::build_and_run(o, cache, &tree, &base, planned)?);
    }
    let checks = checks(&series, &kernels, &o.config);
    let spreads = spreads(&kernels);
    let analyzer = match &o.lint {
        Some(lint) => analyzer_checks(o, cache, &tree, &base, &series, lint)?,
        None => Vec::new(),
    };
    let ok = checks.iter().all(|c| c.ok)
        && !analyzer.iter().any(|a| a.status == AnalyzerStatus::Missing);
    let v = Validation {
        version: 1,
        manifest: o.manifest.clone(),
        kernels,
        checks,
        spreads,
        analyzer,
        ok,
    };
    let path = o.out.join("validation.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&v).expect("serializes") + "\n",
    )
    .map_err(|e| ValidateError::Infra(format!("writing {}: {e}", path.display())))?;
    Ok(v)
}

/// The static analyzer over each series that names an `analyzer_rule`.
fn analyzer_checks(
    o: &Options,
    cache: &Cache,
    tree: &crate::tree::TreeSpec,
    base: &str,
    series: &[super::manifest::Series],
    lint: &std::path::Path,
) -> Result<Vec<AnalyzerCheck>, ValidateError> {
    let origin = crate::tree::resolve(tree, cache)
        .map_err(|e| ValidateError::Infra(format!("base {base}: {e}")))?
        .origin;
    let mut analyzer = Vec::new();
    for s in series {
        if let Some(rule) = &s.analyzer_rule {
            eprintln!(
                "vm validate: analyzer diff over series {} (expects a new {rule})",
                s.name
            );
            let c = analyzer_diff::check(
                &s.name,
                rule,
                &s.path,
                &origin,
                lint,
                &o.out.join(format!("analyzer-{}", s.name)),
            );
            analyzer.push(c);
        }
    }
    Ok(analyzer)
}

#[cfg(test)]
mod tests;
