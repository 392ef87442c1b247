//! One kernel's measurements: `vm build` (with the series, for the patched
//! kernel), the boot check (`vm run --exec true`), the stall suite and the
//! mm selftests when the plan runs them ([`super::selftests`]); the
//! baseline is measured once per kernel × config and reused.

use super::context::{first_lines, step, strs, Ctx};
use super::wire::{parse_suite_json, BuildMeta, GuestOutcome, VmRunJson};
use crate::exec::CmdOutput;
use crate::model::*;
use crate::plan::Job;
use std::path::{Path, PathBuf};

impl Ctx<'_> {
    /// A kernel's build, boot check and stall suite, each step recorded as
    /// soon as it ends. The class is set when the kernel did not build or
    /// boot (the dynamic part then says nothing about the series).
    pub(super) fn kernel_run(
        &mut self,
        job: &Job,
        tree: &str,
        series: Option<&Path>,
    ) -> (KernelRun, Option<InfraClass>) {
        let which = if series.is_some() {
            "patched"
        } else {
            "baseline"
        };
        let (mut run, key) = self.build_step(job, which, tree, series);
        let key = match key {
            Ok(k) => k,
            Err(class) => return (run, Some(class)),
        };
        if self.plan.boot.enabled {
            if let Err(class) = self.boot_step(job, which, &key, &mut run) {
                return (run, Some(class));
            }
        } else {
            run.boot.status = StepStatus::Skipped {
                reason: "boot disabled in the plan".into(),
            };
        }
        if self.plan.suite.enabled {
            self.suite_step(job, which, &key, &mut run);
        } else {
            run.suite.status = StepStatus::Skipped {
                reason: "suite disabled in the plan".into(),
            };
        }
        run.selftests = self.selftest_step(job, which, tree, series, &key);
        (run, None)
    }

    /// `vm build --json`: the run with its build step, and the build key (or
    /// the class of the failure).
    fn build_step(
        &mut self,
        job: &Job,
        which: &str,
        tree: &str,
        series: Option<&Path>,
    ) -> (KernelRun, Result<String, InfraClass>) {
        let fragments = self
            .plan
            .config(&job.config)
            .map(|c| c.fragments.join(","))
            .unwrap_or_default();
        let args = vm_build_args(tree, &fragments, series);
        let o = self.exec.mmstall(&args);
        let log = self.log(
            job,
            &format!("{which}-build"),
            &format!("mmstall {}", args.join(" ")),
            &o,
        );
        let skipped = |r: &str| step("", StepStatus::Skipped { reason: r.into() }, 0.0, None);
        let mut run = KernelRun {
            build: step(&format!("{which} build"), StepStatus::Ok, o.secs, log),
            build_dir: None,
            kernel_release: None,
            compiled: None,
            boot: skipped("not built"),
            boot_secs: None,
            events: vec![],
            suite: skipped("not built"),
            tests: vec![],
            selftests: None,
        };
        run.boot.name = format!("{which} boot");
        run.suite.name = format!("{which} stall suite");
        let meta: Option<BuildMeta> = if o.success() {
            serde_json::from_str(&o.stdout).ok()
        } else {
            None
        };
        let Some(meta) = meta else {
            let (class, detail) = classify_build(&o);
            run.build.status = StepStatus::Failed { detail };
            self.record_step(job, &run.build);
            return (run, Err(class));
        };
        let key = meta.key;
        run.build_dir = Some(key.clone());
        run.kernel_release = Some(meta.kernel_release);
        run.compiled = Some(meta.compiled as u64);
        self.record_step(job, &run.build);
        (run, Ok(key))
    }

    /// The boot check (`vm run --exec true --json`): the boot time and the
    /// kernel events while booting; a kernel that did not boot is a failure.
    fn boot_step(
        &mut self,
        job: &Job,
        which: &str,
        key: &str,
        run: &mut KernelRun,
    ) -> Result<(), InfraClass> {
        let out = self
            .opts
            .out
            .join("logs")
            .join(&job.id)
            .join(format!("{which}-boot"));
        let args = vec![
            "vm".to_string(),
            "run".into(),
            "--kernel".into(),
            key.to_string(),
            "--exec".into(),
            "true".into(),
            "--json".into(),
            "--boot-timeout".into(),
            self.plan.boot.timeout_secs.to_string(),
            "--timeout".into(),
            self.plan.boot.command_timeout_secs.to_string(),
            "--out".into(),
            out.display().to_string(),
        ];
        let o = self.exec.mmstall(&args);
        let log = self.log(
            job,
            &format!("{which}-boot"),
            &format!("mmstall {}", args.join(" ")),
            &o,
        );
        let v = VmRunJson::parse(&o.stdout);
        let outcome = v
            .as_ref()
            .map(VmRunJson::outcome)
            .unwrap_or(GuestOutcome::Missing);
        run.boot_secs = v.as_ref().and_then(VmRunJson::boot_secs);
        run.events = v
            .as_ref()
            .map(VmRunJson::event_fingerprints)
            .unwrap_or_default();
        let booted = matches!(o.exit, Some(0) | Some(1))
            && matches!(outcome, GuestOutcome::Exited | GuestOutcome::CommandTimeout);
        run.boot = step(&format!("{which} boot"), StepStatus::Ok, o.secs, log);
        if !booted {
            let why = match &outcome {
                GuestOutcome::BootTimeout => {
                    "boot timeout: the guest never ran the command".to_string()
                }
                GuestOutcome::GuestDied { reason } => format!("the guest died: {reason}"),
                _ => format!("vm run exited {:?}: {}", o.exit, first_lines(&o.stderr, 5)),
            };
            let ev = if run.events.is_empty() {
                String::new()
            } else {
                format!(" (kernel: {})", run.events.join("; "))
            };
            run.boot.status = StepStatus::Failed {
                detail: format!("{why}{ev}"),
            };
            self.record_step(job, &run.boot);
            return Err(if o.unknown_subcommand() {
                InfraClass::Machine
            } else {
                InfraClass::BootFailure
            });
        }
        self.record_step(job, &run.boot);
        Ok(())
    }

    /// The stall suite on the built kernel (the plan's command, its report
    /// read from the plan's report path or its stdout).
    fn suite_step(&mut self, job: &Job, which: &str, key: &str, run: &mut KernelRun) {
        let out = self
            .opts
            .out
            .join("logs")
            .join(&job.id)
            .join(format!("{which}-suite"));
        let guest = self.exec.guest_program();
        if guest.is_none() && self.plan.suite.args.iter().any(|a| a.contains("{guest}")) {
            run.suite.status = StepStatus::Unavailable {
                reason: "stall suite unavailable: no mmstall-guest program next to mmstall".into(),
            };
            self.record_step(job, &run.suite);
            return;
        }
        let guest = guest.map(|g| g.display().to_string()).unwrap_or_default();
        let subst = |a: &str| {
            // Inside a shell command (`--exec "..."`), values are quoted.
            let q = |v: &str| {
                if a.contains(' ') {
                    sh_quote(v)
                } else {
                    v.to_string()
                }
            };
            a.replace("{kernel}", &q(key))
                .replace("{out}", &q(&out.display().to_string()))
                .replace("{guest}", &q(&guest))
        };
        let args: Vec<String> = self.plan.suite.args.iter().map(|a| subst(a)).collect();
        let report_path = (self.plan.suite.report != "none").then(|| {
            PathBuf::from(
                self.plan
                    .suite
                    .report
                    .replace("{kernel}", key)
                    .replace("{out}", &out.display().to_string()),
            )
        });
        if let Some(p) = &report_path {
            let _ = std::fs::remove_file(p);
            let _ = std::fs::create_dir_all(&out);
        }
        let o = self.exec.mmstall(&args);
        let output = read_suite_report(o, report_path.as_deref());
        let log = self.log(
            job,
            &format!("{which}-suite"),
            &format!("mmstall {}", args.join(" ")),
            &output.log_output(),
        );
        let o = output.ran();
        run.suite = step(&format!("{which} stall suite"), StepStatus::Ok, o.secs, log);
        if o.unknown_subcommand() {
            run.suite.status = StepStatus::Unavailable {
                reason: format!(
                    "stall suite unavailable: this mmstall has no `{}`",
                    self.plan
                        .suite
                        .args
                        .iter()
                        .take_while(|a| !a.starts_with('-'))
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            };
        } else {
            run.suite.status = match &output {
                SuiteOutput::NoReport { why, .. } => StepStatus::Failed {
                    detail: first_lines(why, 5),
                },
                SuiteOutput::Ran(o) => match (o.exit, parse_suite_json(&o.stdout)) {
                    (Some(0) | Some(1), Ok(tests)) => {
                        run.tests = tests;
                        StepStatus::Ok
                    }
                    (Some(0) | Some(1), Err(e)) => StepStatus::Failed {
                        detail: format!("unreadable suite JSON: {e}"),
                    },
                    // A plan's suite command that itself exits 4: its
                    // stderr as it is (`vm run` never exits 4).
                    (Some(4), _) => StepStatus::Failed {
                        detail: first_lines(&o.stderr, 5),
                    },
                    _ => StepStatus::Failed {
                        detail: format!("suite exited {:?}: {}", o.exit, first_lines(&o.stderr, 5)),
                    },
                },
            };
        }
        self.record_step(job, &run.suite);
    }

    pub(super) fn baseline(&mut self, job: &Job, tree: &str) -> (KernelRun, Option<InfraClass>) {
        let key = (job.kernel.clone(), job.config.clone());
        if let Some((r, c)) = self.baselines.get(&key) {
            return (r.clone(), *c);
        }
        let (r, c) = self.kernel_run(job, tree, None);
        self.record_kernel_run(job, "baseline", &r, c);
        self.baselines.insert(key, (r.clone(), c));
        (r, c)
    }
}

/// What the suite command left: its output (with a report file, the report
/// as its stdout), or no report although it exited 0 or 1.
enum SuiteOutput {
    Ran(CmdOutput),
    NoReport { ran: CmdOutput, why: String },
}

impl SuiteOutput {
    fn ran(&self) -> &CmdOutput {
        match self {
            SuiteOutput::Ran(o) | SuiteOutput::NoReport { ran: o, .. } => o,
        }
    }

    /// What the step's log shows: a missing report is logged as exit 4 with
    /// the reason as stderr (the log format of earlier versions).
    fn log_output(&self) -> CmdOutput {
        match self {
            SuiteOutput::Ran(o) => o.clone(),
            SuiteOutput::NoReport { ran, why } => CmdOutput {
                exit: Some(4),
                stderr: why.clone(),
                ..ran.clone()
            },
        }
    }
}

/// The suite's report: the file the plan names (when it names one), else
/// the command's stdout. A command that exited 0 or 1 without writing the
/// file is a missing report (with the guest's stderr when `vm run --json`
/// printed it); a failed command's missing file is only its failure.
fn read_suite_report(o: CmdOutput, report_path: Option<&Path>) -> SuiteOutput {
    let Some(p) = report_path else {
        return SuiteOutput::Ran(o);
    };
    match std::fs::read_to_string(p) {
        Ok(text) => SuiteOutput::Ran(CmdOutput { stdout: text, ..o }),
        Err(e) if o.exit == Some(0) || o.exit == Some(1) => {
            let guest_err =
                VmRunJson::parse(&o.stdout).and_then(|v| v.stderr().map(|s| first_lines(s, 3)));
            let why = format!(
                "the suite wrote no report {}: {e}{}",
                p.display(),
                guest_err
                    .map(|g| format!(" (guest: {g})"))
                    .unwrap_or_default()
            );
            SuiteOutput::NoReport { ran: o, why }
        }
        Err(_) => SuiteOutput::Ran(o),
    }
}

pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:=,@".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// `vm build`'s exit codes: 1 the kernel does not compile; 2 bad input (a
/// patch that does not apply, dropped config options, ...); 3 the machine.
pub fn classify_build(o: &CmdOutput) -> (InfraClass, String) {
    // From the first `error` line on (progress notes before it are in the log).
    let from_error = o
        .stderr
        .lines()
        .skip_while(|l| !l.starts_with("error"))
        .collect::<Vec<_>>()
        .join("\n");
    let detail = first_lines(
        if from_error.is_empty() {
            &o.stderr
        } else {
            &from_error
        },
        12,
    );
    let class = if o.stderr.contains("does not apply") {
        InfraClass::PatchDoesNotApply
    } else if o.exit == Some(1) || o.stderr.contains("dropped") {
        InfraClass::BuildFailure
    } else {
        InfraClass::Machine
    };
    let detail = if o.unknown_subcommand() {
        "this mmstall has no `vm build`".to_string()
    } else if detail.is_empty() {
        format!("vm build exited {:?} without a build", o.exit)
    } else {
        detail
    };
    (class, detail)
}

/// `mmstall vm build` of `tree` with the comma-joined `fragments` (and the
/// series), JSON out, no progress: every kernel a job builds (the stall
/// suite's, the selftests').
pub(super) fn vm_build_args(tree: &str, fragments: &str, series: Option<&Path>) -> Vec<String> {
    let mut args = strs(&[
        "vm",
        "build",
        "--tree",
        tree,
        "--config",
        fragments,
        "--json",
        "--progress",
        "never",
    ]);
    if let Some(s) = series {
        args.push("--series".into());
        args.push(s.display().to_string());
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_failures_are_classified_by_vm_build_exit_codes() {
        let c = |exit, err: &str| classify_build(&CmdOutput::fail(exit, err)).0;
        assert_eq!(
            c(
                2,
                "error: patch 1/2 does not apply: patch 1 \"x\": mm/a.c: hunk #1"
            ),
            InfraClass::PatchDoesNotApply
        );
        assert_eq!(
            c(1, "error: make bzImage failed (exit exit status: 2)"),
            InfraClass::BuildFailure
        );
        let (_, d) = classify_build(&CmdOutput::fail(1, "vm build: applied 1 patch(es)\nvm build: compiling\nerror: make bzImage failed (exit 2); log: L\nmm/util.c:9:1: error: expected ';'"));
        assert!(
            d.starts_with("error: make bzImage failed") && d.contains("expected ';'"),
            "{d}"
        );
        assert_eq!(
            c(2, "error: olddefconfig dropped 1 requested option(s):"),
            InfraClass::BuildFailure
        );
        assert_eq!(c(3, "error: `ccache` not found"), InfraClass::Machine);
        assert_eq!(
            c(2, "error: unrecognized subcommand 'build'"),
            InfraClass::Machine
        );
    }
}
