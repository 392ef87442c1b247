//! One confirmation of one kernel: its findings (the given lint JSON, or
//! `mmstall lint` of the `mm/` of the tree it was built from, with its
//! series applied to a private copy), one boot running the recipes in the
//! guest (`mmstall-guest confirm`), and the matching.

use super::catalogue::Catalogue;
use super::findings::{self, StaticFinding};
use super::matching::{self, Confirmation};
use crate::boot::{self, Outcome, RunOptions};
use crate::build::{self, BuildMeta};
use crate::cache::Cache;
use crate::kvm::{self, AccelChoice};
use crate::patches;
use crate::process;
use mmstall_stall_judge::confirm_report::ConfirmReport;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Options {
    /// A build directory, a build key or a bzImage.
    pub kernel: String,
    /// Findings to confirm (lint JSON); default: lint the kernel's own tree.
    pub findings: Option<PathBuf>,
    /// The `mmstall` binary that lints (`lint --format json`).
    pub lint_bin: PathBuf,
    /// The guest program.
    pub guest: PathBuf,
    pub catalogue: Option<PathBuf>,
    /// A shell command the guest runs, traced, after the recipes (e.g. the
    /// stall suite): its long holds feed discovery.
    pub exec: Option<String>,
    /// Match this saved guest report (`confirm-guest.json`) instead of booting.
    pub guest_report: Option<PathBuf>,
    /// Recipes to run (default: every recipe of the catalogue).
    pub recipes: Option<Vec<String>>,
    pub sizes_mib: Vec<u64>,
    pub threshold_ms: f64,
    pub read_threshold_ms: f64,
    /// Runs of every recipe at every size (the figures are medians).
    pub repeat: u32,
    pub memory: String,
    pub cpus: u32,
    pub boot_timeout: Duration,
    pub cmd_timeout: Duration,
    pub kvm: AccelChoice,
    /// The run directory (guest report, raw traces, confirm.json).
    pub out: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    /// Bad input: kernel, findings, catalogue, series (exit 2).
    #[error("{0}")]
    Input(String),
    /// The lint, the boot or the guest failed (exit 3).
    #[error("{0}")]
    Infra(String),
}

impl ConfirmError {
    pub fn exit_code(&self) -> i32 {
        match self {
            ConfirmError::Input(_) => 2,
            ConfirmError::Infra(_) => 3,
        }
    }
}

/// What the run did besides the confirmation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunInfo {
    pub dir: PathBuf,
    pub kernel: PathBuf,
    pub findings_source: String,
    pub lint_secs: f64,
    pub boot_secs: Option<f64>,
    pub command_secs: Option<f64>,
    pub total_secs: f64,
    pub accel: String,
}

/// The series a build was made with, found again: its recorded path, or a
/// directory of the same name under `patches/` (here or in this source
/// tree) whose content hash is the recorded one.
fn find_series(meta: &BuildMeta) -> Result<patches::LoadedSeries, ConfirmError> {
    let s = meta.series.as_ref().expect("called for a series build");
    let name = s.path.file_name().map(PathBuf::from).unwrap_or_default();
    let candidates = [
        s.path.clone(),
        PathBuf::from("patches").join(&name),
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../patches")
            .join(&name),
    ];
    for c in candidates.iter().filter(|c| c.exists()) {
        if let Ok(l) = patches::load(c) {
            if l.hash == s.hash {
                return Ok(l);
            }
        }
    }
    Err(ConfirmError::Input(format!(
        "build {}: its series {} (hash {}) is not found (tried {}); pass --findings",
        meta.key,
        s.path.display(),
        &s.hash[..12.min(s.hash.len())],
        candidates
            .iter()
            .map(|c| c.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let t = e.file_type()?;
        let dst = to.join(e.file_name());
        if t.is_dir() {
            copy_dir(&e.path(), &dst)?;
        } else if t.is_file() {
            std::fs::copy(e.path(), &dst)?;
        }
    }
    Ok(())
}

/// `LINT lint --format json DIR` → findings (exit 0 and 1 are both results).
fn lint(lint_bin: &Path, dir: &Path) -> Result<Vec<StaticFinding>, ConfirmError> {
    let out = Command::new(lint_bin)
        .args(["lint", "--format", "json"])
        .arg(dir)
        .output()
        .map_err(|e| ConfirmError::Infra(format!("running {}: {e}", lint_bin.display())))?;
    if !matches!(out.status.code(), Some(0 | 1)) {
        return Err(ConfirmError::Infra(format!(
            "{} lint --format json {}: {}: {}",
            lint_bin.display(),
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    findings::parse(
        &String::from_utf8_lossy(&out.stdout),
        &format!("the output of lint {}", dir.display()),
    )
    .map_err(ConfirmError::Infra)
}

/// The kernel's own findings: `mm/` of its tree, with its series applied
/// to a copy (the tree is never written). Returns them and what was linted.
fn kernel_findings(
    o: &Options,
    meta: &BuildMeta,
) -> Result<(Vec<StaticFinding>, String), ConfirmError> {
    let tree = &meta.tree_origin;
    let mm = tree.join("mm");
    if !mm.is_dir() {
        return Err(ConfirmError::Input(format!(
            "build {}: {} (its tree's mm/) is not there; pass --findings",
            meta.key,
            mm.display()
        )));
    }
    if meta.series.is_none() {
        return Ok((lint(&o.lint_bin, &mm)?, format!("lint {}", mm.display())));
    }
    let series = find_series(meta)?;
    let tmp = o.out.join("patched-tree");
    let _ = std::fs::remove_dir_all(&tmp);
    let mut dirs =
        crate::stall::analyzer_diff::touched_dirs(&series.path).map_err(ConfirmError::Input)?;
    dirs.insert("mm".into());
    for d in &dirs {
        if tree.join(d).is_dir() {
            copy_dir(&tree.join(d), &tmp.join(d)).map_err(|e| {
                ConfirmError::Infra(format!("copying {}: {e}", tree.join(d).display()))
            })?;
        }
    }
    // The top-level Makefile and Kbuild make the copy a kernel tree to the
    // analyzer, so findings are named `mm/...` as in the tree itself.
    for f in ["Makefile", "Kbuild"] {
        if tree.join(f).is_file() {
            std::fs::copy(tree.join(f), tmp.join(f)).map_err(|e| {
                ConfirmError::Infra(format!("copying {}: {e}", tree.join(f).display()))
            })?;
        }
    }
    patches::apply_all(&series, &tmp)
        .map_err(|e| ConfirmError::Input(format!("{}: {e}", series.path.display())))?;
    let found = lint(&o.lint_bin, &tmp.join("mm"))?;
    let _ = std::fs::remove_dir_all(&tmp);
    Ok((
        found,
        format!(
            "lint {} with {} applied",
            mm.display(),
            series.path.display()
        ),
    ))
}

/// The guest's command line.
pub fn guest_script(
    guest: &Path,
    recipes: &[String],
    sizes: &[u64],
    read_threshold_ms: f64,
    repeat: u32,
    exec: Option<&str>,
) -> String {
    let sizes: Vec<String> = sizes.iter().map(u64::to_string).collect();
    let command = exec.map_or(String::new(), |c| {
        format!(" --command {}", process::sh_quote(c))
    });
    format!(
        "mkdir -p traces && {} confirm --json confirm-guest.json --raw-dir traces --recipes {} --sizes {} --read-threshold-ms {} --repeat {}{command}\n",
        process::sh_quote(&guest.display().to_string()),
        process::sh_quote(&recipes.join(",")),
        sizes.join(","),
        read_threshold_ms,
        repeat
    )
}

/// What the guest measured, and how long the boot took.
struct GuestRun {
    report: ConfirmReport,
    boot_secs: Option<f64>,
    command_secs: Option<f64>,
    accel: String,
}

fn read_report(p: &Path) -> Result<ConfirmReport, String> {
    let t = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
    serde_json::from_str(&t).map_err(|e| {
        format!(
            "{}:{}:{}: not a `mmstall-guest confirm` report: {e}",
            p.display(),
            e.line(),
            e.column()
        )
    })
}

/// One boot of `bz` running the recipes; the guest's report.
fn boot_and_run(
    o: &Options,
    cache: &Cache,
    bz: &Path,
    cat: &Catalogue,
) -> Result<GuestRun, ConfirmError> {
    let recipes = o.recipes.clone().unwrap_or_else(|| cat.all_recipes());
    let (accel, accel_reason) = kvm::choose(o.kvm, cache, bz, |_| {});
    let run = boot::run(&RunOptions {
        kernel: bz.to_path_buf(),
        script: guest_script(
            &o.guest,
            &recipes,
            &o.sizes_mib,
            o.read_threshold_ms,
            o.repeat,
            o.exec.as_deref(),
        ),
        label: "confirm".into(),
        memory: o.memory.clone(),
        cpus: o.cpus,
        boot_timeout: o.boot_timeout,
        cmd_timeout: o.cmd_timeout,
        accel,
        accel_reason,
        virtiofs: false,
        append: vec![],
        dir: o.out.clone(),
        echo_console: false,
    })
    .map_err(|e| ConfirmError::Infra(format!("booting {}: {e}", bz.display())))?;
    let report_path = o.out.join("confirm-guest.json");
    let report = match std::fs::read_to_string(&report_path) {
        Ok(_) => read_report(&report_path).map_err(ConfirmError::Infra)?,
        Err(e) => {
            let why = match &run.outcome {
                Outcome::Exited { code } => {
                    format!("the guest program exited {code}: {}", run.stderr.trim())
                }
                other => format!("{other:?}"),
            };
            return Err(ConfirmError::Infra(format!(
                "{}: {e} ({why}; logs in {})",
                report_path.display(),
                o.out.display()
            )));
        }
    };
    Ok(GuestRun {
        report,
        boot_secs: run.boot_secs,
        command_secs: run.command_secs,
        accel: format!("{:?}", run.accel),
    })
}

/// Findings → one boot → the confirmation (also written to `out/confirm.json`).
pub fn confirm(o: &Options, cache: &Cache) -> Result<(Confirmation, RunInfo), ConfirmError> {
    let started = std::time::Instant::now();
    let cat = match &o.catalogue {
        Some(p) => Catalogue::load(p),
        None => Ok(Catalogue::builtin()),
    }
    .map_err(ConfirmError::Input)?;
    let (bz, meta) =
        build::locate_kernel(cache, &o.kernel).map_err(|e| ConfirmError::Input(e.to_string()))?;
    std::fs::create_dir_all(&o.out)
        .map_err(|e| ConfirmError::Infra(format!("{}: {e}", o.out.display())))?;
    let (found, source) = match (&o.findings, &meta) {
        (Some(p), _) => (findings::load(p).map_err(ConfirmError::Input)?, p.display().to_string()),
        (None, Some(m)) => kernel_findings(o, m)?,
        (None, None) => {
            return Err(ConfirmError::Input(format!(
                "--kernel {}: a kernel image without its build directory: its tree is unknown; pass --findings",
                o.kernel
            )))
        }
    };
    let lint_secs = started.elapsed().as_secs_f64();
    let guest = match &o.guest_report {
        Some(p) => GuestRun {
            report: read_report(p).map_err(ConfirmError::Input)?,
            boot_secs: None,
            command_secs: None,
            accel: format!("none (the guest report {})", p.display()),
        },
        None => boot_and_run(o, cache, &bz, &cat)?,
    };
    let report = guest.report;
    let c = matching::confirm(&found, &report, &cat, o.threshold_ms);
    let info = RunInfo {
        dir: o.out.clone(),
        kernel: bz,
        findings_source: source,
        lint_secs,
        boot_secs: guest.boot_secs,
        command_secs: guest.command_secs,
        total_secs: started.elapsed().as_secs_f64(),
        accel: guest.accel,
    };
    let doc = serde_json::json!({ "run": info, "confirmation": c });
    let text = serde_json::to_string_pretty(&doc).expect("serializes") + "\n";
    std::fs::write(o.out.join("confirm.json"), text).map_err(|e| {
        ConfirmError::Infra(format!("{}: {e}", o.out.join("confirm.json").display()))
    })?;
    Ok((c, info))
}
