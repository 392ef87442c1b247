//! `mmstall vm validate`: thin layer over `mmstall_vm::stall::validate`.
//!
//! Exit codes: 0 every expectation of the manifest held; 1 one did not (a test
//! that does not pass on the baseline, or does not flip on its regression
//! kernel); 2 bad input (manifest, thresholds, arguments); 3 infrastructure
//! (a build or a boot could not be attempted).

use clap::Args;
use mmstall_vm::cache::Cache;
use mmstall_vm::kvm::AccelChoice;
use mmstall_vm::stall::validate::{self, Options};
use mmstall_vm::{config, stall};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args)]
pub struct ValidateArgs {
    /// The regression series manifest.
    #[arg(long, default_value = "patches/manifest.toml")]
    manifest: PathBuf,
    /// Thresholds for the guest (default: the copy built into mmstall-guest,
    /// vm-tests/thresholds.toml).
    #[arg(long)]
    thresholds: Option<PathBuf>,
    /// The guest program (default: mmstall-guest next to this executable).
    #[arg(long)]
    guest: Option<PathBuf>,
    /// Only these series (comma-separated names from the manifest).
    #[arg(long, value_delimiter = ',')]
    series: Option<Vec<String>>,
    /// Suite runs (boots) on the baseline kernel: the spread of every ratio.
    #[arg(long, default_value_t = 3)]
    baseline_runs: u32,
    /// Suite runs on each regression kernel.
    #[arg(long, default_value_t = 1)]
    runs: u32,
    /// Repetitions of every variant in a run (default: thresholds.toml).
    #[arg(long)]
    repeat: Option<u32>,
    /// Config fragments (as for `vm build`).
    #[arg(long, default_value = config::DEFAULT_FRAGMENTS)]
    config: String,
    #[arg(long, short)]
    jobs: Option<usize>,
    #[arg(long, default_value = "2G")]
    memory: String,
    #[arg(long, default_value_t = 2)]
    cpus: u32,
    #[arg(long, default_value_t = 300)]
    boot_timeout: u64,
    /// Seconds one suite run may take in the guest.
    #[arg(long, default_value_t = 900)]
    timeout: u64,
    /// KVM: auto (probe boot decides), on, off (TCG).
    #[arg(long, default_value = "auto")]
    kvm: String,
    /// Directory for run logs and validation.json (default: a new one under the cache's runs/).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print validation.json instead of the table.
    #[arg(long)]
    json: bool,
    /// Skip the static analyzer diff over each series.
    #[arg(long)]
    no_analyzer: bool,
    /// mmstall binary to run `lint --format json` with (default: this one).
    #[arg(long)]
    lint_bin: Option<PathBuf>,
}

pub fn run(a: ValidateArgs) -> anyhow::Result<i32> {
    let cache = Cache::from_env().map_err(anyhow::Error::msg)?;
    let kvm: AccelChoice = match a.kvm.parse() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    if a.cpus == 0
        || a.timeout == 0
        || a.boot_timeout == 0
        || a.baseline_runs == 0
        || a.runs == 0
        || a.repeat == Some(0)
    {
        eprintln!("error: --cpus, --timeout, --boot-timeout, --baseline-runs, --runs and --repeat must be positive");
        return Ok(2);
    }
    if let Some(t) = &a.thresholds {
        if let Err(e) = stall::thresholds::Thresholds::load(t) {
            eprintln!("error: {e}");
            return Ok(2);
        }
    }
    let guest = match a.guest {
        Some(g) => g,
        None => std::env::current_exe()?.with_file_name("mmstall-guest"),
    };
    let abs = |p: PathBuf| std::fs::canonicalize(&p).unwrap_or(p);
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let o = Options {
        manifest: a.manifest,
        thresholds: a.thresholds.map(abs),
        guest: abs(guest),
        only: a.series,
        baseline_runs: a.baseline_runs,
        runs: a.runs,
        repeat: a.repeat,
        config: a.config,
        jobs: a.jobs,
        memory: a.memory,
        cpus: a.cpus,
        boot_timeout: Duration::from_secs(a.boot_timeout),
        cmd_timeout: Duration::from_secs(a.timeout),
        kvm,
        out: a.out.unwrap_or_else(|| {
            cache
                .runs()
                .join(format!("validate-{secs}-{}", std::process::id()))
        }),
        lint: if a.no_analyzer {
            None
        } else {
            Some(match a.lint_bin {
                Some(b) => b,
                None => std::env::current_exe()?,
            })
        },
    };
    match validate::validate(&o, &cache) {
        Ok(v) => {
            if a.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", validate::render(&v));
                eprintln!("vm validate: {}", o.out.join("validation.json").display());
            }
            Ok(if v.ok { 0 } else { 1 })
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(e.exit_code())
        }
    }
}
