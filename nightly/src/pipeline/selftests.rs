//! The kernel's mm selftests on one kernel (issue 19): the selftests'
//! kernel (the job's own build when its config already has the plan's
//! `[kselftest] fragments`, else a build with them, cached and incremental
//! like the job's), then `vm run --kselftest SPEC --json` in its own run
//! directory (`logs/JOB/{baseline,patched}-kselftest/`, with the per-test
//! logs). Every outcome is recorded: a kernel that did not build, a run
//! that did not finish, a report that cannot be read are failed steps (the
//! verdict makes them "not checked"), never an empty pass.

use super::context::{first_lines, step, Ctx};
use super::kernel_run::{classify_build, vm_build_args};
use super::selftest_report::parse_selftest_report;
use super::wire::{BuildMeta, VmRunJson};
use crate::model::*;
use crate::plan::{Job, KselftestSettings};
use std::path::Path;

impl Ctx<'_> {
    /// The selftests on the kernel `key` built for `job` (`series`: the
    /// patched kernel). `None` when the plan does not run them.
    pub(super) fn selftest_step(
        &mut self,
        job: &Job,
        which: &str,
        tree: &str,
        series: Option<&Path>,
        key: &str,
    ) -> Option<SelftestRun> {
        let ks = self.plan.kselftest.clone()?;
        let config = self
            .plan
            .config(&job.config)
            .map(|c| c.fragments.clone())
            .unwrap_or_default();
        let fragments = ks.kernel_fragments(&config);
        let mut run = SelftestRun {
            selection: ks.tests.spec(),
            fragments: fragments.clone(),
            build: None,
            build_dir: None,
            step: step(&format!("{which} mm selftests"), StepStatus::Ok, 0.0, None),
            events: vec![],
            tests: vec![],
        };
        let kernel = if fragments == config {
            key.to_string()
        } else {
            match self.selftest_kernel(job, which, tree, series, &fragments) {
                Ok((rec, k)) => {
                    run.build = Some(rec);
                    run.build_dir = Some(k.clone());
                    k
                }
                Err(rec) => {
                    run.build = Some(rec);
                    run.step.status = StepStatus::Skipped {
                        reason: "mm selftests: their kernel did not build".into(),
                    };
                    return Some(run);
                }
            }
        };
        self.run_selftests(job, which, &ks, &kernel, &mut run);
        self.record_step(job, &run.step);
        Some(run)
    }

    /// `vm build` of the job's kernel with the selftests' fragments.
    fn selftest_kernel(
        &mut self,
        job: &Job,
        which: &str,
        tree: &str,
        series: Option<&Path>,
        fragments: &[String],
    ) -> Result<(StepRecord, String), StepRecord> {
        let args = vm_build_args(tree, &fragments.join(","), series);
        let o = self.exec.mmstall(&args);
        let name = format!("{which} kselftest build");
        let log = self.log(
            job,
            &format!("{which}-kselftest-build"),
            &format!("mmstall {}", args.join(" ")),
            &o,
        );
        let mut rec = step(&name, StepStatus::Ok, o.secs, log);
        let meta: Option<BuildMeta> = if o.success() {
            serde_json::from_str(&o.stdout).ok()
        } else {
            None
        };
        let result = match meta {
            Some(m) => Ok(m.key),
            None => {
                let (_, detail) = classify_build(&o);
                rec.status = StepStatus::Failed { detail };
                Err(())
            }
        };
        self.record_step(job, &rec);
        match result {
            Ok(key) => Ok((rec, key)),
            Err(()) => Err(rec),
        }
    }

    /// `vm run --kselftest`: the report (stdout), the kernel events of the
    /// run (its `result.json`).
    fn run_selftests(
        &mut self,
        job: &Job,
        which: &str,
        ks: &KselftestSettings,
        kernel: &str,
        run: &mut SelftestRun,
    ) {
        let dir = self
            .opts
            .out
            .join("logs")
            .join(&job.id)
            .join(format!("{which}-kselftest"));
        let args = vec![
            "vm".to_string(),
            "run".into(),
            "--kernel".into(),
            kernel.to_string(),
            "--kselftest".into(),
            run.selection.clone(),
            "--kselftest-timeout".into(),
            ks.timeout_secs.to_string(),
            "--memory".into(),
            ks.memory.clone(),
            "--cpus".into(),
            "2".into(),
            "--boot-timeout".into(),
            self.plan.boot.timeout_secs.to_string(),
            "--out".into(),
            dir.display().to_string(),
            "--json".into(),
        ];
        let o = self.exec.mmstall(&args);
        let log = self.log(
            job,
            &format!("{which}-kselftest"),
            &format!("mmstall {}", args.join(" ")),
            &o,
        );
        run.step = step(
            &format!("{which} mm selftests"),
            StepStatus::Ok,
            o.secs,
            log,
        );
        if o.unknown_subcommand() {
            run.step.status = StepStatus::Unavailable {
                reason: "mm selftests unavailable: this mmstall has no `vm run --kselftest`".into(),
            };
            return;
        }
        run.events = std::fs::read_to_string(dir.join("result.json"))
            .ok()
            .and_then(|t| VmRunJson::parse(&t))
            .map(|v| v.event_fingerprints())
            .unwrap_or_default();
        let parsed = parse_selftest_report(&o.stdout, &self.opts.out);
        run.step.status = match (o.exit, parsed) {
            (Some(0) | Some(1), Ok(tests)) => {
                run.tests = tests;
                StepStatus::Ok
            }
            (Some(0) | Some(1), Err(e)) => StepStatus::Failed {
                detail: format!("mm selftests: unreadable report: {e}"),
            },
            // 3: the selftests could not be built or the guest never
            // booted; what the tests reported (no result) is kept.
            (exit, parsed) => {
                if let Ok(tests) = parsed {
                    run.tests = tests;
                }
                StepStatus::Failed {
                    detail: format!(
                        "mm selftests: vm run exited {}: {}",
                        exit.map(|c| c.to_string())
                            .unwrap_or_else(|| "on a signal".into()),
                        error_lines(&o.stderr)
                    ),
                }
            }
        };
    }
}

/// The `error:` lines of a command's stderr (progress notes come before
/// them), else its first lines.
fn error_lines(stderr: &str) -> String {
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
    if errors.is_empty() {
        first_lines(stderr, 5)
    } else {
        first_lines(&errors.join("\n"), 5)
    }
}
