//! Running the guest suite on a kernel and reading what it left: the guest
//! command line, one boot (through [`crate::boot`], accelerator from
//! [`crate::kvm::choose`]), verdicts from KTAP and numbers from the JSON.

use super::model::{KernelResult, Options, SuiteRun, ValidateError};
use super::plan::Planned;
use crate::boot::{self, Outcome, RunOptions};
use crate::build::{self, BuildRequest, ProgressMode, Reporter};
use crate::cache::Cache;
use crate::kvm;
use crate::process;
use crate::tree::TreeSpec;
use mmstall_stall_judge::ktap;
use mmstall_stall_judge::GuestReport;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The guest command line.
pub fn guest_script(
    guest: &Path,
    json: &Path,
    thresholds: Option<&Path>,
    repeat: Option<u32>,
    tests: Option<&[String]>,
) -> String {
    let q = |p: &Path| process::sh_quote(&p.display().to_string());
    let mut s = format!("{} suite --json {}", q(guest), q(json));
    if let Some(t) = thresholds {
        s.push_str(&format!(" --thresholds {}", q(t)));
    }
    if let Some(n) = repeat {
        s.push_str(&format!(" --repeat {n}"));
    }
    if let Some(t) = tests {
        s.push_str(&format!(" --tests {}", process::sh_quote(&t.join(","))));
    }
    s + "\n"
}

pub(super) fn run_suite(
    o: &Options,
    cache: &Cache,
    kernel: &Path,
    dir: PathBuf,
    tests: Option<&[String]>,
) -> Result<SuiteRun, ValidateError> {
    let (accel, accel_reason) = kvm::choose(o.kvm, cache, kernel, |_| {});
    let _ = std::fs::remove_dir_all(&dir);
    let json = dir.join("stall.json");
    let opts = RunOptions {
        kernel: kernel.to_path_buf(),
        script: guest_script(&o.guest, &json, o.thresholds.as_deref(), o.repeat, tests),
        label: "stall suite".into(),
        memory: o.memory.clone(),
        cpus: o.cpus,
        boot_timeout: o.boot_timeout,
        cmd_timeout: o.cmd_timeout,
        accel,
        accel_reason,
        virtiofs: false,
        append: vec![],
        dir: dir.clone(),
        echo_console: false,
    };
    let r = boot::run(&opts)
        .map_err(|e| ValidateError::Infra(format!("booting {}: {e}", kernel.display())))?;
    Ok(suite_run_from(
        &r.dir,
        r.outcome.clone(),
        r.boot_secs,
        r.command_secs,
        &r.stdout,
        std::fs::read_to_string(&json).ok().as_deref(),
        r.events
            .iter()
            .map(|e| format!("{}: {}", e.kind, e.first_line))
            .collect(),
    ))
}

/// Reads a finished run: verdicts from KTAP, numbers from the JSON report.
pub fn suite_run_from(
    dir: &Path,
    outcome: Outcome,
    boot_secs: Option<f64>,
    command_secs: Option<f64>,
    stdout: &str,
    json: Option<&str>,
    events: Vec<String>,
) -> SuiteRun {
    let mut problems = Vec::new();
    let mut verdicts = BTreeMap::new();
    match ktap::parse(stdout) {
        Ok(p) => {
            for r in &p.results {
                verdicts.insert(r.name.clone(), r.verdict.word().to_string());
            }
            problems.extend(p.warnings);
        }
        Err(e) => problems.push(format!("guest output: {e}")),
    }
    let report = match json.map(serde_json::from_str::<GuestReport>) {
        Some(Ok(r)) => Some(r),
        Some(Err(e)) => {
            problems.push(format!("{}: {e}", dir.join("stall.json").display()));
            None
        }
        None => {
            problems.push(format!("{} missing", dir.join("stall.json").display()));
            None
        }
    };
    if !matches!(outcome, Outcome::Exited { .. }) {
        problems.push(format!("guest: {outcome:?}"));
    }
    SuiteRun {
        dir: dir.to_path_buf(),
        outcome,
        boot_secs,
        command_secs,
        verdicts,
        report,
        events,
        problems,
    }
}

/// Build messages, indented under the validation's own lines.
struct Note;
impl Reporter for Note {
    fn note(&mut self, msg: &str) {
        eprintln!("  {msg}");
    }
}

/// Builds one planned kernel (or finds it in the cache) and runs the suite
/// on it as many times as planned.
pub(super) fn build_and_run(
    o: &Options,
    cache: &Cache,
    tree: &TreeSpec,
    base: &str,
    planned: Planned,
) -> Result<KernelResult, ValidateError> {
    let Planned {
        name,
        series: path,
        runs,
        config,
        tests,
    } = planned;
    eprintln!("vm validate: kernel {name}: building (config {config})");
    let mut req = BuildRequest::new(tree.clone());
    req.series = path.clone();
    req.config = config.clone();
    if let Some(j) = o.jobs {
        req.jobs = j.max(1);
    }
    req.progress = ProgressMode::Quiet;
    let b = build::build(&req, cache, &mut Note).map_err(|e| {
        ValidateError::Infra(match &path {
            Some(p) => format!(
                "building series {name} ({}, config {config}): {e}",
                p.display()
            ),
            None => format!("building the baseline {base} (config {config}): {e}"),
        })
    })?;
    let mut k = KernelResult {
        kernel: name.clone(),
        build_dir: b.dir.clone(),
        build_secs: if b.cached { 0.0 } else { b.meta.secs.total },
        build_cached: b.cached,
        files_compiled: if b.cached { 0 } else { b.meta.compiled },
        runs: Vec::new(),
    };
    for i in 1..=runs.max(1) {
        let dir = o
            .out
            .join(format!("{}-run{i}", name.replace(['@', '+'], "_")));
        eprintln!(
            "vm validate: kernel {name}: suite run {i}/{} ({})",
            runs.max(1),
            dir.display()
        );
        let r = run_suite(o, cache, &b.bzimage, dir, tests.as_deref())?;
        for t in r.verdicts.iter() {
            eprintln!("vm validate:   {} {}", t.1, t.0);
        }
        for p in &r.problems {
            eprintln!("vm validate:   problem: {p}");
        }
        k.runs.push(r);
    }
    Ok(k)
}
