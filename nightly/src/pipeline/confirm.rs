//! The confirm step (`[confirm]`, issue 18): `mmstall confirm` on the
//! patched and on the baseline kernel of a series job, for the findings the
//! series introduces, so a report can say "confirmed on the series, short
//! on the baseline". Every introduced finding gets a measurement on both
//! kernels; a confirm run that could not run or finish makes it "not
//! measured" with the reason. The verdict never reads these: a static
//! regression stays one whatever was measured.

use super::context::{first_lines, step, Ctx};
use crate::model::*;
use crate::plan::Job;
use mmstall_vm::confirm::catalogue::Catalogue;
use mmstall_vm::confirm::findings as static_findings;
use mmstall_vm::confirm::matching::{Confirmation, Evidence, Outcome};
use std::path::Path;

/// Frames of the acquiring stack kept per measurement.
const STACK_FRAMES: usize = 8;

impl Ctx<'_> {
    /// The measurements of the findings `r`'s series introduces. `None`
    /// when the plan does not confirm or the series introduces none of the
    /// codes it measures.
    pub(super) fn confirm_step(&mut self, job: &Job, r: &JobResult) -> Option<ConfirmResult> {
        let cs = &self.plan.confirm;
        if !cs.enabled {
            return None;
        }
        let findings: Vec<&Finding> = r
            .static_
            .as_ref()?
            .introduced
            .iter()
            .filter(|f| cs.codes.iter().any(|c| c == &f.code))
            .collect();
        if findings.is_empty() {
            return None;
        }
        let threshold_ms = cs.threshold_ms;
        let file = self
            .opts
            .out
            .join("logs")
            .join(&job.id)
            .join("confirm-findings.json");
        let written = write_findings(&file, &findings);
        let measure = |ctx: &mut Self, which: &str, run: Option<&KernelRun>| {
            let kernel = usable_kernel(which, run, ctx.plan.build.enabled);
            let (rec, result) = match (&written, kernel) {
                (Err(e), _) => (
                    step(
                        &format!("{which} confirm"),
                        StepStatus::Failed { detail: e.clone() },
                        0.0,
                        None,
                    ),
                    Err(e.clone()),
                ),
                (Ok(()), Err(reason)) => (
                    step(
                        &format!("{which} confirm"),
                        StepStatus::Skipped {
                            reason: reason.clone(),
                        },
                        0.0,
                        None,
                    ),
                    Err(reason),
                ),
                (Ok(()), Ok(key)) => ctx.run_confirm(job, which, &key, &file),
            };
            ctx.record_step(job, &rec);
            (rec, result)
        };
        let (patched_step, patched) = measure(self, "patched", r.patched.as_ref());
        let (baseline_step, baseline) = measure(self, "baseline", r.baseline.as_ref());
        Some(ConfirmResult {
            patched_step,
            baseline_step,
            threshold_ms,
            findings: findings
                .iter()
                .map(|f| FindingHold {
                    fingerprint: f.fingerprint.clone(),
                    code: f.code.clone(),
                    file: f.file.clone(),
                    line: f.line,
                    function: f.function.clone(),
                    holder: f.holder.clone(),
                    patched: measurement(f, &patched),
                    baseline: measurement(f, &baseline),
                })
                .collect(),
        })
    }

    /// One `mmstall confirm --json` run: its step and the confirmation, or
    /// why there is none.
    fn run_confirm(
        &mut self,
        job: &Job,
        which: &str,
        kernel: &str,
        findings: &Path,
    ) -> (StepRecord, Result<Confirmation, String>) {
        let cs = self.plan.confirm.clone();
        let dir = self
            .opts
            .out
            .join("logs")
            .join(&job.id)
            .join(format!("{which}-confirm"));
        let join = |v: &[String]| v.join(",");
        let mut args = vec![
            "confirm".to_string(),
            "--kernel".into(),
            kernel.to_string(),
            "--findings".into(),
            findings.display().to_string(),
            "--sizes".into(),
            join(&cs.sizes.iter().map(u64::to_string).collect::<Vec<_>>()),
            "--threshold-ms".into(),
            cs.threshold_ms.to_string(),
            "--repeat".into(),
            cs.repeat.to_string(),
            "--timeout".into(),
            cs.timeout_secs.to_string(),
            "--boot-timeout".into(),
            self.plan.boot.timeout_secs.to_string(),
            "--out".into(),
            dir.display().to_string(),
            "--json".into(),
        ];
        // No list configured: the recipes the catalogue names for these
        // findings (`none` when it names none: every finding then says why
        // it has no workload, without running the others).
        let recipes = if cs.recipes.is_empty() {
            static_findings::load(findings)
                .ok()
                .map(|f| Catalogue::builtin().recipes_for(&f))
        } else {
            Some(cs.recipes.clone())
        };
        if let Some(r) = recipes {
            args.push("--recipes".into());
            args.push(if r.is_empty() {
                "none".to_string()
            } else {
                join(&r)
            });
        }
        if let Some(g) = self.exec.guest_program() {
            args.push("--guest".into());
            args.push(g.display().to_string());
        }
        let o = self.exec.mmstall(&args);
        let log = self.log(
            job,
            &format!("{which}-confirm"),
            &format!("mmstall {}", args.join(" ")),
            &o,
        );
        let mut rec = step(&format!("{which} confirm"), StepStatus::Ok, o.secs, log);
        let result = if o.unknown_subcommand() {
            let reason = "this mmstall has no `confirm` subcommand".to_string();
            rec.status = StepStatus::Unavailable {
                reason: reason.clone(),
            };
            Err(reason)
        } else if o.exit != Some(0) {
            let detail = format!(
                "mmstall confirm exited {}: {}",
                o.exit
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "on a signal".into()),
                error_lines(&o.stderr)
            );
            rec.status = StepStatus::Failed {
                detail: detail.clone(),
            };
            Err(detail)
        } else {
            // The report is stdout; the run directory's confirm.json when
            // stdout is not it (an older `--json`).
            serde_json::from_str::<Confirmation>(&o.stdout)
                .or_else(|e| {
                    let f = dir.join("confirm.json");
                    std::fs::read_to_string(&f)
                        .map_err(|_| e.to_string())
                        .and_then(|t| {
                            serde_json::from_str(&t).map_err(|e| format!("{}: {e}", f.display()))
                        })
                })
                .map_err(|e| {
                    let detail = format!("unreadable `mmstall confirm --json` report: {e}");
                    rec.status = StepStatus::Failed {
                        detail: detail.clone(),
                    };
                    detail
                })
        };
        (rec, result)
    }
}

/// The build key of a kernel confirm can boot, or why there is none.
fn usable_kernel(which: &str, run: Option<&KernelRun>, builds: bool) -> Result<String, String> {
    if !builds {
        return Err("kernel builds are disabled in the plan".into());
    }
    let Some(run) = run else {
        return Err(format!("the {which} kernel was not built"));
    };
    let Some(key) = &run.build_dir else {
        return Err(format!("the {which} kernel did not build"));
    };
    if matches!(run.boot.status, StepStatus::Failed { .. }) {
        return Err(format!("the {which} kernel did not boot"));
    }
    Ok(key.clone())
}

/// The findings as `mmstall lint --format json` gives them (what
/// `confirm --findings` reads).
fn write_findings(file: &Path, findings: &[&Finding]) -> Result<(), String> {
    let doc = serde_json::json!({ "findings": findings });
    if let Some(p) = file.parent() {
        std::fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    std::fs::write(file, text).map_err(|e| format!("{}: {e}", file.display()))
}

/// The finding's outcome in a confirmation (matched by fingerprint, else
/// by code and site), or "not measured" with the run's reason.
fn measurement(f: &Finding, c: &Result<Confirmation, String>) -> HoldMeasurement {
    let c = match c {
        Ok(c) => c,
        Err(reason) => return HoldMeasurement::not_measured(first_lines(reason, 3)),
    };
    let found = c
        .outcomes
        .iter()
        .find(|o| !f.fingerprint.is_empty() && o.finding.fingerprint == f.fingerprint)
        .or_else(|| {
            c.outcomes.iter().find(|o| {
                o.finding.code == f.code && o.finding.file == f.file && o.finding.line == f.line
            })
        });
    let Some(o) = found else {
        return HoldMeasurement::not_measured("mmstall confirm reported no outcome for it");
    };
    match &o.outcome {
        Outcome::Confirmed { evidence } => with_evidence(HoldOutcome::Confirmed, evidence),
        Outcome::Short { evidence } => with_evidence(HoldOutcome::Short, evidence),
        Outcome::NotReached { recipes } => HoldMeasurement {
            outcome: HoldOutcome::NotReached,
            reason: format!(
                "the holder never took the lock in {}",
                if recipes.is_empty() {
                    "its recipes".to_string()
                } else {
                    recipes.join(", ")
                }
            ),
            ..HoldMeasurement::not_measured("")
        },
        Outcome::NoWorkload { reason } => HoldMeasurement {
            outcome: HoldOutcome::NoWorkload,
            reason: reason.clone(),
            ..HoldMeasurement::not_measured("")
        },
    }
}

fn with_evidence(outcome: HoldOutcome, e: &Evidence) -> HoldMeasurement {
    HoldMeasurement {
        outcome,
        reason: String::new(),
        mode: e.mode.word().to_string(),
        sizes: e
            .sizes
            .iter()
            .map(|s| SizeHold {
                size_mib: s.size_mib,
                max_ms: s.max_ms,
            })
            .collect(),
        growth: e.growth,
        recipe: e.largest().map(|s| s.recipe.clone()).unwrap_or_default(),
        stack: e.acquire_stack.iter().take(STACK_FRAMES).cloned().collect(),
    }
}

/// The `error:` lines of a command's stderr, else its first lines.
fn error_lines(stderr: &str) -> String {
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
    if errors.is_empty() {
        first_lines(stderr, 5)
    } else {
        first_lines(&errors.join("\n"), 5)
    }
}
