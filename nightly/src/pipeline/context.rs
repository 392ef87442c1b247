//! What the steps of a run share: the run's options, its state (checkouts,
//! cache repositories, measured baselines, notes), step records and logs.

use super::store::{append_jsonl, STEPS};
use crate::exec::{CmdOutput, Executor};
use crate::model::*;
use crate::plan::{safe_name, Job, Plan};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub struct Options {
    pub out: PathBuf,
    /// `YYYY-MM-DD`.
    pub night: String,
    /// Run only these job ids (scale-out: one job per runner). Empty: all.
    pub only_jobs: Vec<String>,
    /// The JSON-lines history store to append to.
    pub history: Option<PathBuf>,
    /// Skip jobs already in `OUT/results.jsonl` for the same night.
    pub resume: bool,
}

pub(super) struct Checkout {
    /// What `vm build --tree` gets.
    pub(super) tree: String,
    pub(super) commit: Option<String>,
    /// Repository and base revision for `mmstall series`.
    pub(super) git: Option<(PathBuf, String)>,
}

pub(super) struct Ctx<'a> {
    pub(super) plan: &'a Plan,
    pub(super) opts: &'a Options,
    pub(super) exec: &'a mut dyn Executor,
    pub(super) checkouts: HashMap<String, Result<Checkout, String>>,
    pub(super) static_repos: HashMap<String, Result<(PathBuf, String), String>>,
    pub(super) baselines: HashMap<(String, String), (KernelRun, Option<InfraClass>)>,
    pub(super) series_available: Option<Result<(), String>>,
    /// Cache repositories rebuilt during this run (each at most once).
    pub(super) rebuilt_repos: Vec<PathBuf>,
    /// What the run did on its own (a rebuilt cache), for the progress output.
    pub(super) notes: Vec<String>,
}

pub(super) fn step(name: &str, status: StepStatus, secs: f64, log: Option<String>) -> StepRecord {
    StepRecord {
        name: name.into(),
        status,
        duration_s: (secs * 10.0).round() / 10.0,
        log,
    }
}

pub(super) fn first_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut out = lines.iter().take(n).copied().collect::<Vec<_>>().join("\n");
    if lines.len() > n {
        out.push_str("\n…");
    }
    out
}

pub(super) fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

impl Ctx<'_> {
    pub(super) fn log(&self, job: &Job, name: &str, what: &str, out: &CmdOutput) -> Option<String> {
        let rel = format!("logs/{}/{}.log", job.id, safe_name(name));
        let path = self.opts.out.join(&rel);
        if let Some(p) = path.parent() {
            let _ = std::fs::create_dir_all(p);
        }
        std::fs::write(&path, out.log_text(what)).ok().map(|_| rel)
    }

    pub(super) fn record_step(&self, job: &Job, rec: &StepRecord) {
        let v = serde_json::json!({"night": self.opts.night, "job": job.id, "step": rec});
        if let Err(e) = append_jsonl(&self.opts.out.join(STEPS), &v) {
            eprintln!("nightly: cannot append to {}: {e}", STEPS);
        }
    }

    /// A whole kernel's measurements (build, boot, suite tests), as soon as
    /// they exist: `--resume` reuses a measured baseline even when the job
    /// that measured it was interrupted later.
    pub(super) fn record_kernel_run(
        &self,
        job: &Job,
        which: &str,
        run: &KernelRun,
        class: Option<InfraClass>,
    ) {
        let v = serde_json::json!({"night": self.opts.night, "job": job.id, "kernel": job.kernel, "config": job.config, "kernel_run": which, "run": run, "class": class});
        if let Err(e) = append_jsonl(&self.opts.out.join(STEPS), &v) {
            eprintln!("nightly: cannot append to {}: {e}", STEPS);
        }
    }

    pub(super) fn git(&mut self, args: &[&str], cwd: Option<&Path>) -> CmdOutput {
        self.exec.git(&strs(args), cwd)
    }
}
