//! One job from checkout to verdict: checkout, series, apply check, static
//! step, baseline and patched kernels, comparisons (stall suite, mm
//! selftests), the measured holds of new findings (`[confirm]`), verdict.

use super::context::{first_lines, step, Ctx};
use super::functional::compare_selftests;
use super::verdict::{
    baseline_job_verdict, compare, compared_verdict, failure_detail, infra_or_static_regression,
    static_only_verdict,
};
use crate::model::*;
use crate::plan::{Job, KernelSource};
use std::path::Path;
use std::time::Instant;

impl Ctx<'_> {
    pub(super) fn run_job(&mut self, job: &Job) -> JobResult {
        let start = Instant::now();
        let mut r = self.new_result(job);
        let infra = |class: InfraClass, detail: String| Verdict::InfraError { class, detail };
        let t = Instant::now();
        let tree = match self.checkout(&job.kernel) {
            Ok((tree, commit)) => {
                r.commit = commit;
                r.checkout.duration_s = (t.elapsed().as_secs_f64() * 10.0).round() / 10.0;
                tree
            }
            Err(detail) => {
                r.checkout.status = StepStatus::Failed {
                    detail: detail.clone(),
                };
                r.verdict = infra(InfraClass::Checkout, detail);
                return finish(r, start);
            }
        };
        self.record_step(job, &r.checkout);

        let series = if job.is_baseline() {
            None
        } else {
            match self.materialize(job) {
                Ok(p) => Some(p),
                Err(detail) => {
                    r.verdict = infra(InfraClass::SeriesUnreadable, detail);
                    return finish(r, start);
                }
            }
        };

        if let Some(s) = &series {
            if let Err(v) = self.apply_check_and_static(job, &tree, s, &mut r) {
                r.verdict = v;
                return finish(r, start);
            }
        }

        if !self.plan.build.enabled {
            r.confirm = self.confirm_step(job, &r);
            r.verdict = static_only_verdict(r.static_.as_ref(), self.plan);
            return finish(r, start);
        }
        let (base, bfail) = self.baseline(job, &tree);
        r.baseline = Some(base.clone());
        if let Some(class) = bfail {
            let detail = failure_detail(&base).unwrap_or_default();
            r.confirm = self.confirm_step(job, &r);
            r.verdict = infra_or_static_regression(&r, class, format!("baseline kernel: {detail}"));
            return finish(r, start);
        }
        let Some(s) = series else {
            // The baseline job: the kernel's own measurements.
            r.verdict = baseline_job_verdict(&base);
            return finish(r, start);
        };

        let (patched, pfail) = self.kernel_run(job, &tree, Some(&s));
        self.record_kernel_run(job, "patched", &patched, pfail);
        r.patched = Some(patched.clone());
        if let Some(class) = pfail {
            let detail = failure_detail(&patched).unwrap_or_default();
            let detail = if class == InfraClass::BootFailure {
                format!("patched kernel: {detail} (the baseline booted)")
            } else {
                format!("patched kernel: {detail}")
            };
            r.confirm = self.confirm_step(job, &r);
            r.verdict = infra_or_static_regression(&r, class, detail);
            return finish(r, start);
        }

        r.comparisons = compare(
            &base,
            &patched,
            self.plan.suite.ratio_tolerance,
            self.plan.suite.ratio_floor,
        );
        if let (Some(b), Some(p)) = (&base.selftests, &patched.selftests) {
            if b.step.status == StepStatus::Ok && p.step.status == StepStatus::Ok {
                r.selftest_comparisons = compare_selftests(b, p);
            }
        }
        // Evidence beside the verdict: compared_verdict does not read it.
        r.confirm = self.confirm_step(job, &r);
        r.verdict = compared_verdict(&r, self.plan, &base, &patched);
        finish(r, start)
    }

    /// The job's result before any step ran: what the plan says about it.
    fn new_result(&self, job: &Job) -> JobResult {
        let k = self.plan.kernel(&job.kernel).cloned();
        let kernel_source = match k.as_ref().map(|k| &k.source) {
            Some(KernelSource::Tree { tree }) => tree.clone(),
            Some(KernelSource::Git { repo, git_ref }) => format!("{repo}@{git_ref}"),
            None => String::new(),
        };
        JobResult {
            night: self.opts.night.clone(),
            plan: self.plan.name.clone(),
            job: job.id.clone(),
            series: job.series.clone(),
            kernel: job.kernel.clone(),
            kernel_source,
            commit: None,
            config: job.config.clone(),
            fragments: self
                .plan
                .config(&job.config)
                .map(|c| c.fragments.clone())
                .unwrap_or_default(),
            subjects: vec![],
            checkout: step("checkout", StepStatus::Ok, 0.0, None),
            static_: None,
            baseline: None,
            patched: None,
            comparisons: vec![],
            selftest_comparisons: vec![],
            confirm: None,
            verdict: Verdict::Pass {
                not_checked: vec![],
            },
            duration_s: 0.0,
            started: Some(crate::reports::utc_timestamp_now()),
            host: crate::reports::hostname(),
        }
    }

    /// Whether the series applies to the tree (cheap, before any build),
    /// then the static step. A series that does not apply ends the job with
    /// the returned verdict.
    fn apply_check_and_static(
        &mut self,
        job: &Job,
        tree: &str,
        s: &Path,
        r: &mut JobResult,
    ) -> Result<(), Verdict> {
        // Applies at all? (cheap, before any build)
        let o = self.exec.apply_check(tree, s);
        let log = self.log(
            job,
            "apply-check",
            &format!("apply check of {} onto {tree}", s.display()),
            &o,
        );
        let applies = o.success();
        if applies {
            r.subjects = serde_json::from_str(&o.stdout).unwrap_or_default();
        }
        let rec = step(
            "apply check",
            if applies {
                StepStatus::Ok
            } else {
                StepStatus::Failed {
                    detail: first_lines(&o.stderr, 8),
                }
            },
            o.secs,
            log,
        );
        self.record_step(job, &rec);
        if self.plan.static_.enabled {
            let mut st = self.run_static(job, s);
            if applies && st.step.status == StepStatus::Ok {
                // The series applies to the tree being built: a patch the
                // static analysis could not apply means it analyzed something else.
                if let Some(p) = st.patches.iter().find(|p| p.status == "failed") {
                    st.step.status = StepStatus::Failed { detail: format!("mmstall series could not apply patch {} (\"{}\") although it applies to the tree (see {})", p.index, p.subject, st.step.log.clone().unwrap_or_default()) };
                    st.introduced.clear();
                }
            }
            self.record_step(job, &st.step);
            r.static_ = Some(st);
        }
        if !applies {
            let class = if o.exit == Some(2) {
                InfraClass::SeriesUnreadable
            } else {
                InfraClass::PatchDoesNotApply
            };
            return Err(Verdict::InfraError {
                class,
                detail: first_lines(&o.stderr, 8),
            });
        }
        Ok(())
    }
}

pub(super) fn finish(mut r: JobResult, start: Instant) -> JobResult {
    r.duration_s = (start.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    r
}
