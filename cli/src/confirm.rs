//! `mmstall confirm`: thin layer over `mmstall_vm::confirm`.
//!
//! Exit codes: 0 the confirmation ran (whatever the outcomes: they are
//! measurements, not a verdict); 2 bad input (kernel, findings, catalogue,
//! options); 3 infrastructure (lint, boot or guest failed).

use clap::Args;
use mmstall_vm::cache::Cache;
use mmstall_vm::confirm::{report, run};
use mmstall_vm::kvm::AccelChoice;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args)]
pub struct ConfirmArgs {
    /// The kernel: a build directory, a build key or a bzImage.
    #[arg(long)]
    kernel: String,
    /// Findings to confirm (`mmstall lint --format json` output); default:
    /// lint the mm/ of the tree the kernel was built from (series applied).
    #[arg(long)]
    findings: Option<PathBuf>,
    /// Recipes to run (comma-separated; default: every recipe of the
    /// catalogue; `none` for only --exec).
    #[arg(long, value_delimiter = ',')]
    recipes: Option<Vec<String>>,
    /// A shell command the guest runs, traced, after the recipes (e.g.
    /// `mmstall-guest suite`): its long holds no finding explains are listed.
    #[arg(long)]
    exec: Option<String>,
    /// The kernel's own mm selftests as a traced workload (`mm`, `mm:TEST,...`,
    /// built from the kernel's tree like `vm run --kselftest`): their long
    /// holds no finding explains are listed (discovery). Runs after --exec.
    #[arg(long, value_name = "SPEC")]
    kselftest: Option<String>,
    /// The two (or more) sizes every recipe runs at, in MiB.
    #[arg(long, value_delimiter = ',', default_value = "64,256")]
    sizes: Vec<u64>,
    /// A hold this long (ms) at the largest size confirms a finding.
    #[arg(long, default_value_t = 50.0)]
    threshold_ms: f64,
    /// Read holds shorter than this (ms) are recorded only as the longest of each pair of stacks (write holds always are).
    #[arg(long, default_value_t = 10.0)]
    read_threshold_ms: f64,
    /// Runs of every recipe at every size; each figure is the median.
    #[arg(long, default_value_t = 3)]
    repeat: u32,
    /// Holder → recipes catalogue (default: the built-in vm-tests/confirm.toml).
    #[arg(long)]
    catalogue: Option<PathBuf>,
    /// Match a saved guest report (a run directory's confirm-guest.json)
    /// instead of booting: another threshold or catalogue, no new measurement.
    #[arg(long)]
    guest_report: Option<PathBuf>,
    /// The guest program (default: mmstall-guest next to this executable).
    #[arg(long)]
    guest: Option<PathBuf>,
    /// mmstall binary to lint with (default: this one).
    #[arg(long)]
    lint_bin: Option<PathBuf>,
    #[arg(long, default_value = "2G")]
    memory: String,
    #[arg(long, default_value_t = 2)]
    cpus: u32,
    #[arg(long, default_value_t = 300)]
    boot_timeout: u64,
    /// Seconds the recipes may take in the guest.
    #[arg(long, default_value_t = 900)]
    timeout: u64,
    /// KVM: auto (probe boot decides), on, off (TCG).
    #[arg(long, default_value = "auto")]
    kvm: String,
    /// Run directory (default: a new one under the cache's runs/).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print confirm.json's confirmation instead of the table.
    #[arg(long)]
    json: bool,
}

pub fn run(a: ConfirmArgs) -> anyhow::Result<i32> {
    let cache = Cache::from_env().map_err(anyhow::Error::msg)?;
    let kvm: AccelChoice = match a.kvm.parse() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    if a.sizes.is_empty() || a.sizes.contains(&0) || a.cpus == 0 || a.timeout == 0 || a.repeat == 0
    {
        eprintln!("error: --sizes, --cpus, --timeout and --repeat must be positive");
        return Ok(2);
    }
    let abs = |p: PathBuf| std::fs::canonicalize(&p).unwrap_or(p);
    let here = std::env::current_exe()?;
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let o = run::Options {
        kernel: a.kernel.clone(),
        findings: a.findings.map(abs),
        lint_bin: a.lint_bin.map(abs).unwrap_or_else(|| here.clone()),
        guest: abs(a
            .guest
            .unwrap_or_else(|| here.with_file_name("mmstall-guest"))),
        catalogue: a.catalogue.map(abs),
        guest_report: a.guest_report.map(abs),
        recipes: a
            .recipes
            .map(|r| r.into_iter().filter(|n| n != "none").collect()),
        exec: match (&a.kselftest, a.exec) {
            (None, exec) => exec,
            (Some(spec), exec) => {
                let ks = match crate::vm_kselftest::prepare(
                    &cache,
                    &a.kernel,
                    spec,
                    mmstall_vm::kselftest::run::DEFAULT_TEST_TIMEOUT_SECS,
                ) {
                    Ok(k) => k,
                    Err(code) => return Ok(code),
                };
                eprintln!("confirm: tracing {}", ks.label);
                // The selftests' runner is a shell script: run it after the
                // user's command, in the guest's run directory.
                Some(match exec {
                    Some(e) => format!("{e}\n{}", ks.script),
                    None => ks.script,
                })
            }
        },
        sizes_mib: a.sizes,
        threshold_ms: a.threshold_ms,
        read_threshold_ms: a.read_threshold_ms,
        repeat: a.repeat,
        memory: a.memory,
        cpus: a.cpus,
        boot_timeout: Duration::from_secs(a.boot_timeout),
        cmd_timeout: Duration::from_secs(a.timeout),
        kvm,
        out: abs(a.out.unwrap_or_else(|| {
            cache
                .runs()
                .join(format!("confirm-{secs}-{}", std::process::id()))
        })),
    };
    eprintln!("mmstall confirm: {} in {}", o.kernel, o.out.display());
    match run::confirm(&o, &cache) {
        Ok((c, info)) => {
            if a.json {
                println!("{}", serde_json::to_string_pretty(&c)?);
            } else {
                print!("{}", report::render(&c));
            }
            eprintln!(
                "mmstall confirm: findings from {}; lint {:.1} s, boot {:.1} s, recipes {:.1} s, total {:.1} s ({}); {}",
                info.findings_source,
                info.lint_secs,
                info.boot_secs.unwrap_or(0.0),
                info.command_secs.unwrap_or(0.0),
                info.total_secs,
                info.accel,
                info.dir.join("confirm.json").display()
            );
            Ok(0)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(e.exit_code())
        }
    }
}
