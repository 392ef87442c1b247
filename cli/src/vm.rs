//! `mmstall vm ...` and `mmstall doctor`: thin layer over `mmstall_vm`.
//!
//! Exit codes (see vm-tests/README.md):
//! - `vm build`: 0 built or found in the cache; 1 the kernel does not compile;
//!   2 bad input (tree, fragment, series, a patch that does not apply, options
//!   dropped by olddefconfig); 3 infrastructure (missing tools, I/O, make
//!   failing outside compilation).
//! - `vm run`: 0 the command exited 0 and the kernel reported nothing; 1
//!   findings: the command failed, the kernel reported trouble (events), the
//!   command timed out or the guest died; 2 bad input; 3 infrastructure (vng
//!   missing, the guest never booted and the kernel said nothing).
//! - `doctor`: 0 everything required is there, 3 otherwise.

use clap::{Args, Subcommand};
use mmstall_vm::boot::{self, Outcome, RunOptions, RunResult};
use mmstall_vm::build::{self, BuildRequest, ProgressMode, StderrReporter};
use mmstall_vm::cache::Cache;
use mmstall_vm::kvm::{self, AccelChoice};
use mmstall_vm::tree::TreeSpec;
use mmstall_vm::{config, doctor, suites};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Subcommand)]
pub enum VmCommand {
    /// Build a kernel (cached by tree, series and config); prints the build directory.
    Build(BuildArgs),
    /// Boot a built kernel with virtme-ng and run a command or a suite in it.
    Run(RunArgs),
    /// List the built-in config fragments and suites.
    List,
    /// Build the baseline and each regression series, run the stall suite on each, check the flips.
    Validate(crate::vm_validate::ValidateArgs),
}

#[derive(Args)]
pub struct BuildArgs {
    /// Kernel source: a directory (git or plain; never written) or debian:6.12.
    #[arg(long, default_value = "debian:6.12")]
    tree: String,
    /// Patch series to apply (mbox, patch file, or directory of *.patch).
    #[arg(long)]
    series: Option<PathBuf>,
    /// Config fragments merged in order over `make tinyconfig`: built-in names
    /// (virtme-base, stall-debug, lockdep, no-per-vma-lock) or fragment files.
    /// virtme-base is always applied first.
    #[arg(long, default_value = config::DEFAULT_FRAGMENTS)]
    config: String,
    /// Parallel jobs (default: number of CPUs).
    #[arg(long, short)]
    jobs: Option<usize>,
    /// Build even if olddefconfig dropped requested options.
    #[arg(long)]
    allow_dropped: bool,
    /// Run make even when the build is cached.
    #[arg(long)]
    rebuild: bool,
    /// Progress line while compiling: auto (on a terminal), always, never.
    #[arg(long, default_value = "auto")]
    progress: String,
    /// Print the build's metadata as JSON instead of its directory.
    #[arg(long)]
    json: bool,
    /// Only merge the fragments and run olddefconfig (no compile): print the
    /// final .config and report dropped options (exit 2 if any).
    #[arg(long, conflicts_with = "series")]
    config_only: bool,
}

#[derive(Args)]
pub struct RunArgs {
    /// Build directory, build key, or kernel image (bzImage).
    #[arg(long)]
    kernel: String,
    /// Shell command to run in the guest.
    #[arg(long, conflicts_with = "suite")]
    exec: Option<String>,
    /// Built-in suite name (see `mmstall vm list`) or a script file.
    #[arg(long)]
    suite: Option<String>,
    /// Kernel selftests: `mm` (the default subset), `mm:all`, `mm:TEST,...`.
    #[arg(long, conflicts_with_all = ["exec", "suite"])]
    kselftest: Option<String>,
    /// Seconds each selftest may run (with --kselftest).
    #[arg(long, default_value_t = mmstall_vm::kselftest::run::DEFAULT_TEST_TIMEOUT_SECS)]
    kselftest_timeout: u64,
    /// Guest memory (QEMU syntax).
    #[arg(long, default_value = "1G")]
    memory: String,
    /// Guest CPUs.
    #[arg(long, default_value_t = 2)]
    cpus: u32,
    /// Seconds until the guest must be running the command.
    #[arg(long, default_value_t = 300)]
    boot_timeout: u64,
    /// Seconds the command may run.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// KVM: auto (probe boot decides), on, off (TCG).
    #[arg(long, default_value = "auto")]
    kvm: String,
    /// Extra kernel command line argument (repeatable).
    #[arg(long)]
    append: Vec<String>,
    /// Run directory for logs (default: a new one under the cache's runs/).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the guest console as it boots.
    #[arg(long)]
    console: bool,
    /// Print the run result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct DoctorArgs {
    /// Kernel image to probe KVM with (default: the newest cached build).
    #[arg(long)]
    kernel: Option<String>,
    /// Seconds the KVM probe boot may take.
    #[arg(long, default_value_t = 20)]
    probe_timeout: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn cache() -> anyhow::Result<Cache> {
    Cache::from_env().map_err(anyhow::Error::msg)
}

/// Lists built-in items with the summary from their `# mmstall...: text` line.
fn print_builtins(title: &str, items: &[(&str, &str)]) {
    println!("{title}");
    for (n, text) in items {
        let first = text
            .lines()
            .find(|l| l.starts_with("# mmstall"))
            .unwrap_or("");
        println!(
            "  {n:<16} {}",
            first.split_once(": ").map(|x| x.1).unwrap_or(first)
        );
    }
}

pub fn run(cmd: VmCommand) -> anyhow::Result<i32> {
    match cmd {
        VmCommand::Build(a) => vm_build(a),
        VmCommand::Run(a) => vm_run(a),
        VmCommand::Validate(a) => crate::vm_validate::run(a),
        VmCommand::List => {
            print_builtins("config fragments (--config):", config::BUILTIN_FRAGMENTS);
            print_builtins("suites (--suite):", suites::BUILTIN);
            Ok(0)
        }
    }
}

fn vm_build(a: BuildArgs) -> anyhow::Result<i32> {
    let cache = cache()?;
    let tree = match TreeSpec::parse(&a.tree) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    let progress = match a.progress.as_str() {
        "auto" => ProgressMode::Auto,
        "always" => ProgressMode::Tty,
        "never" => ProgressMode::Quiet,
        other => {
            eprintln!("error: --progress {other}: expected auto, always or never");
            return Ok(2);
        }
    };
    let mut req = BuildRequest::new(tree);
    req.series = a.series;
    req.config = a.config;
    if let Some(j) = a.jobs {
        if j == 0 {
            eprintln!("error: --jobs must be at least 1");
            return Ok(2);
        }
        req.jobs = j;
    }
    req.allow_dropped = a.allow_dropped;
    req.rebuild = a.rebuild;
    req.progress = progress;
    if a.config_only {
        return match build::check_config(&req, &cache, &mut StderrReporter) {
            Ok(c) => {
                print!("{}", c.config);
                eprintln!(
                    "vm build: {} options requested by {}; {} dropped",
                    c.requested,
                    c.fragments.join(","),
                    c.dropped.len()
                );
                for d in &c.dropped {
                    eprintln!("  dropped: {d}");
                }
                Ok(if c.dropped.is_empty() { 0 } else { 2 })
            }
            Err(e) => {
                eprintln!("error: {e}");
                Ok(e.exit_code())
            }
        };
    }
    match build::build(&req, &cache, &mut StderrReporter) {
        Ok(b) => {
            if b.cached {
                eprintln!(
                    "vm build: cached: {} ({})",
                    b.dir.display(),
                    b.meta.kernel_release
                );
            }
            if a.json {
                println!("{}", serde_json::to_string_pretty(&b.meta)?);
            } else {
                println!("{}", b.dir.display());
            }
            Ok(0)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(e.exit_code())
        }
    }
}

fn new_run_dir(cache: &Cache) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    cache
        .runs()
        .join(format!("{}-{}", secs, std::process::id()))
}

fn vm_run(a: RunArgs) -> anyhow::Result<i32> {
    let cache = cache()?;
    let ks = match &a.kselftest {
        Some(k) => match crate::vm_kselftest::prepare(&cache, &a.kernel, k, a.kselftest_timeout) {
            Ok(p) => Some(p),
            Err(code) => return Ok(code),
        },
        None => None,
    };
    let (script, label) = match (&a.exec, &a.suite) {
        _ if ks.is_some() => ks
            .as_ref()
            .map(|k| (k.script.clone(), k.label.clone()))
            .expect("some"),
        (Some(c), None) => {
            if c.trim().is_empty() {
                eprintln!("error: --exec needs a command");
                return Ok(2);
            }
            (format!("{c}\n"), format!("--exec {c:?}"))
        }
        (None, Some(s)) => match suites::resolve(s) {
            Ok(su) => (su.script, format!("suite {}", su.name)),
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(2);
            }
        },
        _ => {
            eprintln!("error: give --exec CMD, --suite NAME or --kselftest mm");
            return Ok(2);
        }
    };
    let choice: AccelChoice = match a.kvm.parse() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    if a.cpus == 0 || a.boot_timeout == 0 || a.timeout == 0 {
        eprintln!("error: --cpus, --boot-timeout and --timeout must be positive");
        return Ok(2);
    }
    let (kernel, meta) = match build::locate_kernel(&cache, &a.kernel) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    let (accel, accel_reason) = kvm::choose(choice, &cache, &kernel, |e| {
        eprintln!("vm run: KVM probe could not run: {e}")
    });
    let kconfig = kernel
        .parent()
        .and_then(|d| std::fs::read_to_string(d.join("config")).ok());
    let virtiofs = boot::virtiofs_usable(kconfig.as_deref(), boot::virtiofsd_version().as_deref());
    let dir = a.out.clone().unwrap_or_else(|| new_run_dir(&cache));
    let opts = RunOptions {
        kernel: kernel.clone(),
        script,
        label: label.clone(),
        memory: a.memory,
        cpus: a.cpus,
        boot_timeout: Duration::from_secs(a.boot_timeout),
        cmd_timeout: ks.as_ref().map_or(Duration::from_secs(a.timeout), |k| {
            k.cmd_timeout.max(Duration::from_secs(a.timeout))
        }),
        accel,
        accel_reason: accel_reason.clone(),
        virtiofs,
        append: a.append,
        dir,
        echo_console: a.console,
    };
    eprintln!(
        "vm run: booting {}{} ({accel_reason}), {label}",
        kernel.display(),
        meta.as_ref()
            .map(|m| format!(" [{}]", m.kernel_release))
            .unwrap_or_default()
    );
    let r = match boot::run(&opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(match e {
                boot::BootError::NoKernel(_) => 2,
                _ => 3,
            });
        }
    };
    if let Some(k) = &ks {
        if !a.json {
            summarize(&r);
        }
        return crate::vm_kselftest::finish(k, &r, run_exit_code(&r), a.json);
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print!("{}", r.stdout);
        eprint!("{}", r.stderr);
        summarize(&r);
    }
    Ok(run_exit_code(&r))
}

fn summarize(r: &RunResult) {
    let boot = r
        .boot_secs
        .map(|s| format!("{s:.1} s"))
        .unwrap_or_else(|| "-".into());
    let cmd = r
        .command_secs
        .map(|s| format!("{s:.1} s"))
        .unwrap_or_else(|| "-".into());
    let what = match &r.outcome {
        Outcome::Exited { code } => format!("command exited {code}"),
        Outcome::BootTimeout => "BOOT TIMEOUT: the guest never ran the command".into(),
        Outcome::CommandTimeout => "COMMAND TIMEOUT: killed".into(),
        Outcome::GuestDied { reason } => format!("GUEST DIED: {reason}"),
    };
    eprintln!("vm run: {what} (boot {boot}, command {cmd}, {:?})", r.accel);
    for e in &r.events {
        eprintln!(
            "vm run: kernel {}: {} [{}] (console line {})",
            e.kind, e.first_line, e.fingerprint, e.line
        );
    }
    eprintln!(
        "vm run: logs in {} (console.log, dmesg.txt, result.json)",
        r.dir.display()
    );
}

/// See the module documentation.
pub fn run_exit_code(r: &RunResult) -> i32 {
    match &r.outcome {
        Outcome::Exited { code: 0 } if r.events.is_empty() => 0,
        Outcome::Exited { .. } | Outcome::CommandTimeout => 1,
        Outcome::BootTimeout | Outcome::GuestDied { .. } if !r.events.is_empty() => 1,
        Outcome::BootTimeout | Outcome::GuestDied { .. } => 3,
    }
}

pub fn doctor(a: DoctorArgs) -> anyhow::Result<i32> {
    let cache = cache()?;
    let kernel = match &a.kernel {
        Some(k) => match build::locate_kernel(&cache, k) {
            Ok((p, _)) => Some(p),
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(2);
            }
        },
        None => None,
    };
    let rep = doctor::run(
        &cache,
        kernel.as_deref(),
        Duration::from_secs(a.probe_timeout.max(1)),
    );
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        println!("mmstall doctor (cache: {})", cache.root.display());
        for c in &rep.checks {
            let mark = if c.ok {
                "ok  "
            } else if c.required {
                "FAIL"
            } else {
                "warn"
            };
            println!("  [{mark}] {:<20} {}", c.name, c.detail);
        }
        println!("  guests will run with {}", rep.accel);
    }
    Ok(if rep.ok() { 0 } else { 3 })
}
