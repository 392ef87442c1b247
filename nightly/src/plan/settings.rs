//! The plan's settings tables (`[static]`, `[suite]`, `[build]`, `[boot]`,
//! `[kselftest]`, `[confirm]`) and their defaults.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StaticSettings {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Path prefixes the static analysis is restricted to (empty: whole tree).
    #[serde(default = "default_paths")]
    pub paths: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SuiteSettings {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The mmstall subcommand that runs the stall suite on a built kernel;
    /// `{kernel}` is replaced by the build key, `{out}` by a directory for its
    /// logs, `{guest}` by the guest program (`mmstall-guest` next to mmstall;
    /// the suite is unavailable without it). It must print the suite JSON,
    /// or `vm run --json` output whose stdout is the suite JSON (docs/nightly.md).
    #[serde(default = "default_suite_args")]
    pub args: Vec<String>,
    /// Where the suite writes its JSON report (placeholders as in `args`);
    /// `none`: the report is the command's stdout.
    #[serde(default = "default_report")]
    pub report: String,
    /// A patched ratio above baseline × (1 + tolerance) is a regression ...
    #[serde(default = "default_tolerance")]
    pub ratio_tolerance: f64,
    /// ... when it is also above this floor: below it, ratios are noise (the
    /// stall tests fail from 0.5, readers waiting for half the operation).
    #[serde(default = "default_floor")]
    pub ratio_floor: f64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BuildSettings {
    /// `false`: a static-only night (no kernel builds, boots or suite).
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl Default for BuildSettings {
    fn default() -> Self {
        BuildSettings { enabled: true }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BootSettings {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_boot_timeout")]
    pub timeout_secs: u64,
    #[serde(default = "default_command_timeout")]
    pub command_timeout_secs: u64,
}

fn yes() -> bool {
    true
}
fn default_paths() -> Vec<String> {
    vec!["mm".into()]
}
fn default_suite_args() -> Vec<String> {
    [
        "vm",
        "run",
        "--kernel",
        "{kernel}",
        "--exec",
        "{guest} suite --json {out}/stall.json",
        "--memory",
        "2G",
        "--cpus",
        "2",
        "--timeout",
        "900",
        "--out",
        "{out}",
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}
fn default_report() -> String {
    "{out}/stall.json".into()
}
fn default_floor() -> f64 {
    0.25
}
fn default_tolerance() -> f64 {
    0.5
}
fn default_boot_timeout() -> u64 {
    300
}
fn default_command_timeout() -> u64 {
    120
}

impl Default for StaticSettings {
    fn default() -> Self {
        StaticSettings {
            enabled: true,
            paths: default_paths(),
        }
    }
}
impl Default for SuiteSettings {
    fn default() -> Self {
        SuiteSettings {
            enabled: true,
            args: default_suite_args(),
            report: default_report(),
            ratio_tolerance: default_tolerance(),
            ratio_floor: default_floor(),
        }
    }
}
impl Default for BootSettings {
    fn default() -> Self {
        BootSettings {
            enabled: true,
            timeout_secs: default_boot_timeout(),
            command_timeout_secs: default_command_timeout(),
        }
    }
}

/// `[kselftest]`: the kernel's mm selftests on the baseline and on each
/// patched kernel (`vm run --kselftest`). Absent: not run.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KselftestSettings {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `"default"` (the curated subset), `"all"`, or a list of test names
    /// (entries or binaries of the harness' catalogue).
    #[serde(default)]
    pub tests: SelftestList,
    /// Fragments added to the job's config for the selftests' kernel (the
    /// options they need). Already all in the config: they run on the job's
    /// own kernel; else on a second build (cached, incremental for a series).
    #[serde(default = "default_kselftest_fragments")]
    pub fragments: Vec<String>,
    /// Seconds each selftest may run (`--kselftest-timeout`).
    #[serde(default = "default_kselftest_timeout")]
    pub timeout_secs: u64,
    /// Guest memory (QEMU syntax).
    #[serde(default = "default_kselftest_memory")]
    pub memory: String,
}

/// Which selftests: a word (`default`, `all`) or the tests' names.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum SelftestList {
    Word(String),
    Names(Vec<String>),
}

impl Default for SelftestList {
    fn default() -> Self {
        SelftestList::Word("default".into())
    }
}

impl SelftestList {
    /// What `vm run --kselftest` is given: `mm`, `mm:all`, `mm:A,B`.
    pub fn spec(&self) -> String {
        match self {
            SelftestList::Word(w) if w == "default" => "mm".into(),
            SelftestList::Word(w) => format!("mm:{w}"),
            SelftestList::Names(n) => format!("mm:{}", n.join(",")),
        }
    }
}

impl KselftestSettings {
    /// The selftests' kernel: the config's fragments, then those of the
    /// plan's `[kselftest]` it does not have yet.
    pub fn kernel_fragments(&self, config: &[String]) -> Vec<String> {
        let mut all = config.to_vec();
        for f in &self.fragments {
            if !all.contains(f) {
                all.push(f.clone());
            }
        }
        all
    }
}

fn default_kselftest_fragments() -> Vec<String> {
    vec!["kselftest-mm".into()]
}
fn default_kselftest_timeout() -> u64 {
    300
}
fn default_kselftest_memory() -> String {
    "2G".into()
}

/// `[confirm]`: measure, in the booted patched and baseline kernels, the
/// mmap_lock hold of each finding a series introduces (`mmstall confirm`).
/// Off by default: evidence beside the static verdict, never the verdict.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfirmSettings {
    #[serde(default)]
    pub enabled: bool,
    /// The two (or more) sizes every recipe runs at, in MiB (`--sizes`).
    #[serde(default = "default_confirm_sizes")]
    pub sizes: Vec<u64>,
    /// A hold this long (ms) at the largest size confirms a finding.
    #[serde(default = "default_confirm_threshold")]
    pub threshold_ms: f64,
    /// Runs of every recipe at every size; each figure is their median.
    #[serde(default = "default_confirm_repeat")]
    pub repeat: u32,
    /// Recipes to run (`--recipes`; empty: those vm-tests/confirm.toml
    /// names for the findings measured, `none` when it names none).
    #[serde(default)]
    pub recipes: Vec<String>,
    /// Finding codes that are measured (others have no lock hold to time).
    #[serde(default = "default_confirm_codes")]
    pub codes: Vec<String>,
    /// Seconds the recipes may take in the guest (`--timeout`).
    #[serde(default = "default_confirm_timeout")]
    pub timeout_secs: u64,
}

impl Default for ConfirmSettings {
    fn default() -> Self {
        ConfirmSettings {
            enabled: false,
            sizes: default_confirm_sizes(),
            threshold_ms: default_confirm_threshold(),
            repeat: default_confirm_repeat(),
            recipes: vec![],
            codes: default_confirm_codes(),
            timeout_secs: default_confirm_timeout(),
        }
    }
}

fn default_confirm_sizes() -> Vec<u64> {
    vec![64, 256]
}
fn default_confirm_threshold() -> f64 {
    50.0
}
fn default_confirm_repeat() -> u32 {
    3
}
fn default_confirm_codes() -> Vec<String> {
    ["MMS001", "MMS002", "MMS003"].map(String::from).to_vec()
}
fn default_confirm_timeout() -> u64 {
    900
}
