//! The plan's settings tables (`[static]`, `[suite]`, `[build]`, `[boot]`)
//! and their defaults.

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
