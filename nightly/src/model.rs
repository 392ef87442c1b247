//! What a nightly job measured. One `JobResult` per line in `results.jsonl`;
//! every report is rendered from these alone (so `mmstall merge` can rebuild
//! the reports of many per-job directories).

use serde::{Deserialize, Serialize};

/// Why a job could not say anything about the kernel: never a regression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InfraClass {
    /// A patch of the series does not apply to the kernel.
    PatchDoesNotApply,
    /// The series could not be read (no patches, unreadable file, git range).
    SeriesUnreadable,
    /// The kernel tree could not be checked out.
    Checkout,
    /// The kernel (baseline or patched) does not compile, or its config drops options.
    BuildFailure,
    /// The kernel did not boot (boot timeout, guest died before the command).
    BootFailure,
    /// Anything else on the machine (missing tools, I/O, a step that crashed).
    Machine,
    /// A check the plan asks for did not run or did not finish (static
    /// analysis failed or unavailable, the stall suite failed, missing or
    /// reported no tests) and nothing else went wrong: the series was not
    /// fully checked, so it is not a pass.
    NotChecked,
}

impl InfraClass {
    pub fn label(self) -> &'static str {
        match self {
            InfraClass::PatchDoesNotApply => "patch does not apply",
            InfraClass::SeriesUnreadable => "series unreadable",
            InfraClass::Checkout => "checkout failure",
            InfraClass::BuildFailure => "build failure",
            InfraClass::BootFailure => "boot failure",
            InfraClass::Machine => "machine error",
            InfraClass::NotChecked => "not checked",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// Nothing got worse. `not_checked` lists what could not be checked
    /// (e.g. "stall suite unavailable"): a pass with gaps says so.
    Pass {
        not_checked: Vec<String>,
    },
    Regression {
        #[serde(rename = "static_regression")]
        static_: bool,
        #[serde(rename = "dynamic_regression")]
        dynamic: bool,
        /// A kernel selftest that passed (or failed as expected) on the
        /// baseline fails with the series (results of earlier versions have
        /// no such field: false).
        #[serde(rename = "functional_regression", default)]
        functional: bool,
        not_checked: Vec<String>,
    },
    InfraError {
        class: InfraClass,
        detail: String,
    },
}

impl Verdict {
    pub fn word(&self) -> String {
        match self {
            Verdict::Pass { not_checked } if not_checked.is_empty() => "pass".into(),
            Verdict::Pass { .. } => "pass (partial)".into(),
            Verdict::Regression {
                static_,
                dynamic,
                functional,
                ..
            } => {
                let kinds: Vec<&str> = [
                    (*static_, "static"),
                    (*dynamic, "dynamic"),
                    (*functional, "functional"),
                ]
                .into_iter()
                .filter_map(|(on, word)| on.then_some(word))
                .collect();
                format!("regression ({})", kinds.join(" + "))
            }
            Verdict::InfraError { class, .. } => format!("infrastructure error: {}", class.label()),
        }
    }
    pub fn is_regression(&self) -> bool {
        matches!(self, Verdict::Regression { .. })
    }
    pub fn is_infra(&self) -> bool {
        matches!(self, Verdict::InfraError { .. })
    }
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum StepStatus {
    Ok,
    Failed {
        detail: String,
    },
    /// The step could not run here (e.g. the subcommand does not exist in this
    /// mmstall). Never counted as a pass.
    Unavailable {
        reason: String,
    },
    /// Not run because an earlier step failed.
    Skipped {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub name: String,
    #[serde(flatten)]
    pub status: StepStatus,
    /// Seconds.
    pub duration_s: f64,
    /// Relative to the result directory.
    pub log: Option<String>,
}

/// A static finding (the fields of `mmstall lint --format json`'s findings that
/// the reports use; the rest is kept in `extra`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    #[serde(default)]
    pub rule: String,
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub severity: String,
    #[serde(default)]
    pub file: String,
    #[serde(default)]
    pub line: u64,
    #[serde(default)]
    pub column: u64,
    #[serde(default)]
    pub function: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub fingerprint: String,
    /// Patch of the series that introduced it (1-based), when known.
    #[serde(default)]
    pub patch: Option<usize>,
    /// The function holding the lock, its lock mode, the call path and the
    /// long operation: what `mmstall confirm` matches holds against.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub holder: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub lock_mode: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub call_path: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub operation: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaticResult {
    pub step: StepRecord,
    /// Per patch: index, subject, status (applied / failed / not_attempted), counts.
    pub patches: Vec<PatchSummary>,
    pub introduced: Vec<Finding>,
    pub fixed: Vec<Finding>,
    /// Findings present before and after (count only).
    pub unchanged: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchSummary {
    pub index: usize,
    pub subject: String,
    pub status: String,
    pub introduced: usize,
    pub fixed: usize,
}

/// One stall test's measurement in one kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteTest {
    pub name: String,
    /// pass | fail | skip | error
    pub status: String,
    /// The stall ratio (how much longer than the unloaded reference).
    pub ratio: Option<f64>,
    pub unit: String,
    pub detail: String,
    /// Seconds the test ran (the guest's `duration_s`), when reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelRun {
    /// Build step (`vm build`).
    pub build: StepRecord,
    /// The build directory / key and kernel release, when built.
    pub build_dir: Option<String>,
    pub kernel_release: Option<String>,
    /// Files compiled (from the build's meta.json).
    pub compiled: Option<u64>,
    pub boot: StepRecord,
    pub boot_secs: Option<f64>,
    /// Kernel events (hung tasks, lockdep, ...) fingerprints seen while booting.
    pub events: Vec<String>,
    pub suite: StepRecord,
    pub tests: Vec<SuiteTest>,
    /// The kernel's mm selftests, when the plan runs them (`[kselftest]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selftests: Option<SelftestRun>,
}

/// The mm selftests on one kernel (`vm run --kselftest`): the kernel they
/// ran on (the job's own build, or one with the plan's extra fragments),
/// the step and each test's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelftestRun {
    /// `mm`, `mm:all`, `mm:TEST,...` (what `--kselftest` was given).
    pub selection: String,
    /// The fragments of the kernel they ran on.
    pub fragments: Vec<String>,
    /// Its own build, when the plan's kselftest fragments add to the job's
    /// config (none: the selftests ran on the job's kernel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<StepRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_dir: Option<String>,
    /// The `vm run --kselftest` step.
    pub step: StepRecord,
    /// Kernel events (hung tasks, oopses, ...) while the selftests ran.
    #[serde(default)]
    pub events: Vec<String>,
    pub tests: Vec<Selftest>,
}

/// One selftest's verdict on one kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selftest {
    pub name: String,
    /// pass | fail | skip | xfail | error (the kselftest runner's verdicts)
    pub status: String,
    /// Why it skipped, failed as expected or errored; for a failure its exit
    /// status and failed subtests.
    pub reason: String,
    /// Seconds the test ran in the guest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secs: Option<f64>,
    /// Its log, relative to the result directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// For a failure or error: the end of its log (the reports carry it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub log_tail: String,
}

/// How a selftest's result on the patched kernel compares to the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SelftestOutcome {
    /// Same verdict class on both (pass/xfail, or skipped on both), or
    /// fixed by the series.
    Unchanged,
    /// Passed (or failed as expected) on the baseline, fails with the series.
    Regression,
    /// Fails on the baseline too: not the series' doing.
    FailingOnBaseline,
    /// Could not be compared: it did not run on one of the kernels (error,
    /// missing, skipped where the other kernel ran it).
    NotChecked,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelftestComparison {
    pub test: String,
    pub baseline_status: String,
    pub patched_status: String,
    pub outcome: SelftestOutcome,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub test: String,
    pub baseline_status: String,
    pub patched_status: String,
    pub baseline_ratio: Option<f64>,
    pub patched_ratio: Option<f64>,
    pub regression: bool,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    pub night: String,
    pub plan: String,
    pub job: String,
    pub series: String,
    pub kernel: String,
    /// `debian:6.12`, or `repo@ref`.
    pub kernel_source: String,
    /// The commit a git ref resolved to.
    pub commit: Option<String>,
    pub config: String,
    pub fragments: Vec<String>,
    pub subjects: Vec<String>,
    pub checkout: StepRecord,
    #[serde(rename = "static")]
    pub static_: Option<StaticResult>,
    pub baseline: Option<KernelRun>,
    pub patched: Option<KernelRun>,
    pub comparisons: Vec<Comparison>,
    /// The mm selftests, patched against baseline (series jobs whose plan
    /// runs them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub selftest_comparisons: Vec<SelftestComparison>,
    /// The measured mmap_lock hold of each finding the series introduces
    /// (`[confirm]`): evidence beside the verdict, never part of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<ConfirmResult>,
    #[serde(flatten)]
    pub verdict: Verdict,
    pub duration_s: f64,
    /// When the job started, UTC (`YYYY-MM-DDTHH:MM:SS`): JUnit's `timestamp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    /// The machine that ran the job: JUnit's `hostname` (jobs of one night
    /// may run on several machines and be merged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl JobResult {
    pub fn is_baseline(&self) -> bool {
        self.series == "baseline"
    }
}

/// `mmstall confirm` on the patched and on the baseline kernel of a series
/// job, for the findings the series introduces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfirmResult {
    /// The `mmstall confirm` step on each kernel.
    pub patched_step: StepRecord,
    pub baseline_step: StepRecord,
    /// The threshold (ms) a hold at the largest size must reach to confirm.
    pub threshold_ms: f64,
    pub findings: Vec<FindingHold>,
}

/// One introduced finding's measured hold on both kernels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingHold {
    pub fingerprint: String,
    pub code: String,
    pub file: String,
    pub line: u64,
    pub function: String,
    pub holder: String,
    pub patched: HoldMeasurement,
    pub baseline: HoldMeasurement,
}

/// What `mmstall confirm` said of a finding on one kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HoldOutcome {
    /// The hold reached the threshold at the largest size.
    Confirmed,
    /// The path ran; the hold stayed below the threshold.
    Short,
    /// The workload ran but the holder never took the lock.
    NotReached,
    /// No recipe reaches the holder (or none could run on this kernel).
    NoWorkload,
    /// `mmstall confirm` did not run or did not finish (the reason says why).
    NotMeasured,
}

impl HoldOutcome {
    pub fn word(self) -> &'static str {
        match self {
            HoldOutcome::Confirmed => "confirmed",
            HoldOutcome::Short => "short",
            HoldOutcome::NotReached => "not reached",
            HoldOutcome::NoWorkload => "no workload",
            HoldOutcome::NotMeasured => "not measured",
        }
    }
}

/// The figure of one size: median over the repetitions of the longest hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizeHold {
    pub size_mib: u64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldMeasurement {
    pub outcome: HoldOutcome,
    /// Why there is no figure (not reached, no workload, not measured).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// `write` or `read` (the hold measured).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mode: String,
    /// Smallest size first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sizes: Vec<SizeHold>,
    /// Largest size's figure over the smallest's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub growth: Option<f64>,
    /// The recipe of the longest hold at the largest size.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub recipe: String,
    /// Its acquiring stack (first frames).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stack: Vec<String>,
}

impl HoldMeasurement {
    pub fn not_measured(reason: impl Into<String>) -> Self {
        HoldMeasurement {
            outcome: HoldOutcome::NotMeasured,
            reason: reason.into(),
            mode: String::new(),
            sizes: vec![],
            growth: None,
            recipe: String::new(),
            stack: vec![],
        }
    }

    /// `confirmed: write hold 92 ms at 64 MiB → 419 ms at 256 MiB (4.5×)`,
    /// `short: write hold 3 ms at 64 MiB → 4 ms at 256 MiB (1.3×)`,
    /// `not measured: boot timeout`.
    pub fn describe(&self) -> String {
        let word = self.outcome.word();
        if self.sizes.is_empty() {
            return if self.reason.is_empty() {
                word.to_string()
            } else {
                format!("{word}: {}", self.reason)
            };
        }
        let figures: Vec<String> = self
            .sizes
            .iter()
            .map(|s| format!("{} ms at {} MiB", fmt_ms(s.max_ms), s.size_mib))
            .collect();
        let growth = self
            .growth
            .map(|g| format!(" ({g:.1}×)"))
            .unwrap_or_default();
        format!("{word}: {} hold {}{growth}", self.mode, figures.join(" → "))
    }

    /// The figure at the largest size (ms).
    pub fn largest_ms(&self) -> Option<f64> {
        self.sizes.last().map(|s| s.max_ms)
    }
}

/// Whole milliseconds from 10 ms on, one decimal below.
fn fmt_ms(ms: f64) -> String {
    if ms >= 10.0 {
        format!("{ms:.0}")
    } else {
        format!("{ms:.1}")
    }
}
