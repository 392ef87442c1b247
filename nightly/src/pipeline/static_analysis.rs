//! The static step: `mmstall series` over the series on the kernel's cache
//! repository, its JSON read into the findings the series introduces.

use super::context::{first_lines, step, strs, Ctx};
use super::wire::parse_series_json;
use crate::model::*;
use crate::plan::Job;
use std::path::Path;
use std::time::Instant;

impl Ctx<'_> {
    pub(super) fn series_available(&mut self) -> Result<(), String> {
        if let Some(r) = &self.series_available {
            return r.clone();
        }
        let o = self.exec.mmstall(&strs(&["series", "--help"]));
        let r = if o.unknown_subcommand() {
            Err("this mmstall has no `series` subcommand".to_string())
        } else if o.success() {
            Ok(())
        } else {
            Err(format!(
                "`mmstall series --help` failed: {}",
                first_lines(&o.stderr, 3)
            ))
        };
        self.series_available = Some(r.clone());
        r
    }

    /// The static step. When `mmstall series` fails on a cache repository
    /// (not the user's), the repository is checked in full (`git fsck`); a
    /// damaged one is rebuilt and the step runs once more.
    pub(super) fn run_static(&mut self, job: &Job, series: &Path) -> StaticResult {
        let st = self.run_static_once(job, series);
        if !matches!(st.step.status, StepStatus::Failed { .. }) {
            return st;
        }
        let cache = self.exec.cache_root().join("nightly/git");
        let Some(Ok((repo, _))) = self.static_repos.get(&job.kernel).cloned() else {
            return st;
        };
        if !repo.starts_with(&cache) || self.rebuilt_repos.contains(&repo) {
            return st;
        }
        let g = repo.display().to_string();
        let o = self.git(&["--git-dir", &g, "fsck", "--no-progress"], None);
        if o.success()
            || self
                .rebuild_cache_repo(&repo, &job.kernel, &o.stderr)
                .is_err()
        {
            return st;
        }
        self.static_repos.remove(&job.kernel);
        self.run_static_once(job, series)
    }

    fn run_static_once(&mut self, job: &Job, series: &Path) -> StaticResult {
        let empty = |rec: StepRecord| StaticResult {
            step: rec,
            patches: vec![],
            introduced: vec![],
            fixed: vec![],
            unchanged: 0,
        };
        if let Err(reason) = self.series_available() {
            return empty(step(
                "static",
                StepStatus::Unavailable { reason },
                0.0,
                None,
            ));
        }
        let start = Instant::now();
        let (repo, base) = match self.static_repo(&job.kernel) {
            Ok(x) => x,
            Err(detail) => {
                return empty(step(
                    "static",
                    StepStatus::Failed { detail },
                    start.elapsed().as_secs_f64(),
                    None,
                ))
            }
        };
        let mut args = vec![
            "series".to_string(),
            "--repo".into(),
            repo.display().to_string(),
            "--base".into(),
            base,
            "--format".into(),
            "json".into(),
            "--keep-going".into(),
            series.display().to_string(),
        ];
        args.extend(self.plan.static_.paths.iter().cloned());
        let o = self.exec.mmstall(&args);
        let log = self.log(job, "static", &format!("mmstall {}", args.join(" ")), &o);
        let secs = start.elapsed().as_secs_f64();
        // 0 and 1: every patch analyzed; 3: a patch did not apply (its
        // report is read, and the failed patch makes the step fail below).
        let parsed = if matches!(o.exit, Some(0) | Some(1) | Some(3)) {
            parse_series_json(&o.stdout)
        } else {
            Err(String::new())
        };
        match parsed {
            Ok(mut r) => {
                r.step = step("static", StepStatus::Ok, secs, log);
                if o.exit == Some(3) && !r.patches.iter().any(|p| p.status == "failed") {
                    r.step.status = StepStatus::Failed {
                        detail: format!(
                            "mmstall series exited 3 (incomplete): {}",
                            first_lines(&o.stderr, 3)
                        ),
                    };
                    r.introduced.clear();
                }
                r
            }
            Err(e) => {
                let detail = if e.is_empty() {
                    format!(
                        "mmstall series exited {:?}: {}",
                        o.exit,
                        first_lines(&o.stderr, 5)
                    )
                } else {
                    format!("unreadable `mmstall series` JSON: {e}")
                };
                empty(step("static", StepStatus::Failed { detail }, secs, log))
            }
        }
    }
}
