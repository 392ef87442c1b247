//! Baseline against patched, and the verdict rules (docs/nightly.md): what
//! a job could not check, regressions (static, dynamic, functional: the mm
//! selftests compared in `functional`), infrastructure errors.

use super::context::first_lines;
use crate::model::*;
use crate::plan::Plan;

/// A kernel that did not build or boot leaves the dynamic part unchecked,
/// but findings the static analysis introduced are still a regression (exit
/// 1, the infrastructure failure listed as not checked), never hidden
/// behind an infrastructure error.
pub(super) fn infra_or_static_regression(
    r: &JobResult,
    class: InfraClass,
    detail: String,
) -> Verdict {
    let static_found = r
        .static_
        .as_ref()
        .is_some_and(|s| s.step.status == StepStatus::Ok && !s.introduced.is_empty());
    if static_found {
        Verdict::Regression {
            static_: true,
            dynamic: false,
            functional: false,
            not_checked: vec![format!("{}: {}", class.label(), first_lines(&detail, 1))],
        }
    } else {
        Verdict::InfraError { class, detail }
    }
}

/// The baseline job: the kernel's own measurements (never a regression).
pub(super) fn baseline_job_verdict(base: &KernelRun) -> Verdict {
    let mut gaps = Gaps::default();
    gaps.kernel_run(base);
    gaps.selftest_errors(base);
    gaps.verdict(false, false, false)
}

/// A static-only night (kernel builds disabled in the plan): the static
/// step's findings and gaps alone.
pub(super) fn static_only_verdict(st: Option<&StaticResult>, plan: &Plan) -> Verdict {
    let static_ = st.map(|s| !s.introduced.is_empty()).unwrap_or(false);
    let mut gaps = Gaps::default();
    gaps.static_step(st, plan);
    gaps.disabled
        .push("kernel builds disabled in the plan (static only)".into());
    gaps.verdict(static_, false, false)
}

/// Both kernels built and booted: the static findings, the comparisons
/// and the selftest comparisons (already in `r`) and every gap of either
/// kernel.
pub(super) fn compared_verdict(
    r: &JobResult,
    plan: &Plan,
    base: &KernelRun,
    patched: &KernelRun,
) -> Verdict {
    let dynamic = r.comparisons.iter().any(|c| c.regression);
    let functional = r
        .selftest_comparisons
        .iter()
        .any(|c| c.outcome == SelftestOutcome::Regression);
    let static_ = r
        .static_
        .as_ref()
        .map(|s| !s.introduced.is_empty())
        .unwrap_or(false);
    let mut gaps = Gaps::default();
    gaps.static_step(r.static_.as_ref(), plan);
    gaps.kernel_run(patched);
    gaps.test_errors(base);
    for b in &base.tests {
        if !patched.tests.iter().any(|p| p.name == b.name) {
            gaps.requested.push(format!(
                "stall test `{}` ran on the baseline but not on the patched kernel",
                b.name
            ));
        }
    }
    gaps.selftests_of_baseline(base);
    if plan.kselftest.is_some() && (base.selftests.is_none() || patched.selftests.is_none()) {
        // E.g. a baseline resumed from a run of a plan without `[kselftest]`.
        gaps.requested
            .push("mm selftests: they did not run on both kernels".into());
    }
    for c in &r.selftest_comparisons {
        if c.outcome == SelftestOutcome::NotChecked {
            gaps.requested
                .push(format!("mm selftest `{}` {}", c.test, c.reason));
        }
    }
    gaps.verdict(static_, dynamic, functional)
}

/// What a job could not check. `requested`: checks the plan asks for that
/// did not run or did not finish; `disabled`: checks the plan turned off.
/// The verdict rules (docs/nightly.md): a regression stays a regression
/// (with every gap listed); otherwise any requested gap makes the job
/// `not checked` (an infrastructure error, exit 3), never a pass; only
/// checks the plan disabled leave a `pass (partial)`.
#[derive(Default)]
struct Gaps {
    requested: Vec<String>,
    disabled: Vec<String>,
}

impl Gaps {
    fn static_step(&mut self, st: Option<&StaticResult>, plan: &Plan) {
        match st.map(|s| &s.step.status) {
            None if plan.static_.enabled => {}
            None => self
                .disabled
                .push("static analysis disabled in the plan".into()),
            Some(StepStatus::Ok) => {}
            Some(StepStatus::Unavailable { reason }) => self
                .requested
                .push(format!("static analysis unavailable: {reason}")),
            Some(StepStatus::Failed { detail }) => self.requested.push(format!(
                "static analysis failed: {}",
                first_lines(detail, 1)
            )),
            Some(StepStatus::Skipped { reason }) => self
                .requested
                .push(format!("static analysis skipped: {reason}")),
        }
    }

    fn kernel_run(&mut self, run: &KernelRun) {
        // One wording for both kernels: "stall suite: ..." (the step names
        // are "baseline stall suite", "patched boot").
        let plain = |s: &str| s.replace("baseline ", "").replace("patched ", "");
        for s in [&run.boot, &run.suite] {
            let what = s.name.split(' ').skip(1).collect::<Vec<_>>().join(" ");
            match &s.status {
                StepStatus::Ok => {}
                StepStatus::Skipped { reason } if reason.contains("disabled in the plan") => {
                    self.disabled.push(plain(reason))
                }
                StepStatus::Unavailable { reason } | StepStatus::Skipped { reason } => {
                    self.requested.push(plain(reason))
                }
                StepStatus::Failed { detail } => self
                    .requested
                    .push(plain(&format!("{what}: {}", first_lines(detail, 1)))),
            }
        }
        if matches!(run.suite.status, StepStatus::Ok) && run.tests.is_empty() {
            self.requested
                .push("stall suite: it reported no tests".to_string());
        }
        if !run.tests.is_empty() && run.tests.iter().all(|t| t.status == "skip") {
            self.requested
                .push("stall suite: every test was skipped".to_string());
        }
        self.test_errors(run);
        self.selftest_step(run);
    }

    /// The selftests' step on a kernel: a kernel that did not build, a run
    /// that failed or reported nothing leaves every selftest unchecked.
    fn selftest_step(&mut self, run: &KernelRun) {
        let Some(st) = &run.selftests else { return };
        if let Some(StepStatus::Failed { detail }) = st.build.as_ref().map(|b| &b.status) {
            self.requested.push(format!(
                "mm selftests: their kernel did not build: {}",
                first_lines(detail, 1)
            ));
        }
        match &st.step.status {
            StepStatus::Ok if st.tests.is_empty() => self
                .requested
                .push("mm selftests: the run reported no tests".into()),
            StepStatus::Ok => {
                if st.tests.iter().all(|t| t.status == "skip") {
                    self.requested
                        .push("mm selftests: every selftest was skipped".into());
                }
            }
            // A kernel that did not build is said above.
            StepStatus::Skipped { .. } if st.build.is_some() => {}
            StepStatus::Failed { detail } => self.requested.push(first_lines(detail, 1)),
            StepStatus::Unavailable { reason } | StepStatus::Skipped { reason } => {
                self.requested.push(reason.clone())
            }
        }
    }

    /// On a baseline compared with a patched kernel: its selftests' step
    /// (a failed baseline run leaves the comparison unmade; the tests that
    /// errored are in the comparisons).
    fn selftests_of_baseline(&mut self, base: &KernelRun) {
        let before = self.requested.len();
        self.selftest_step(base);
        for g in &mut self.requested[before..] {
            *g = format!("baseline kernel: {g}");
        }
    }

    /// The baseline job: each selftest that could not run on it.
    fn selftest_errors(&mut self, run: &KernelRun) {
        let Some(st) = &run.selftests else { return };
        let no_verdict =
            |t: &&Selftest| !matches!(t.status.as_str(), "pass" | "fail" | "skip" | "xfail");
        for t in st.tests.iter().filter(no_verdict) {
            self.requested.push(format!(
                "mm selftest `{}` could not run: {}",
                t.name,
                first_lines(&t.reason, 1)
            ));
        }
    }

    /// A stall test that could not run (`error`) on either kernel leaves its
    /// comparison unchecked.
    fn test_errors(&mut self, run: &KernelRun) {
        for t in run.tests.iter().filter(|t| t.status == "error") {
            self.requested.push(format!(
                "stall test `{}` could not run: {}",
                t.name,
                first_lines(&t.detail, 1)
            ));
        }
    }

    fn verdict(self, static_: bool, dynamic: bool, functional: bool) -> Verdict {
        let clean = |v: Vec<String>| -> Vec<String> {
            let mut out: Vec<String> = Vec::new();
            for g in v {
                if !out.contains(&g) {
                    out.push(g);
                }
            }
            out
        };
        let requested = clean(self.requested);
        let disabled = clean(self.disabled);
        if static_ || dynamic || functional {
            Verdict::Regression {
                static_,
                dynamic,
                functional,
                not_checked: requested.into_iter().chain(disabled).collect(),
            }
        } else if !requested.is_empty() {
            let mut detail = requested.join("; ");
            if !disabled.is_empty() {
                detail.push_str(&format!(" (also not checked: {})", disabled.join("; ")));
            }
            Verdict::InfraError {
                class: InfraClass::NotChecked,
                detail,
            }
        } else {
            Verdict::Pass {
                not_checked: disabled,
            }
        }
    }
}

pub(super) fn baseline_failure(r: &KernelRun) -> Option<InfraClass> {
    if matches!(r.build.status, StepStatus::Failed { .. }) {
        return Some(InfraClass::BuildFailure);
    }
    if matches!(r.boot.status, StepStatus::Failed { .. }) {
        return Some(InfraClass::BootFailure);
    }
    None
}

pub(super) fn failure_detail(r: &KernelRun) -> Option<String> {
    for s in [&r.build, &r.boot] {
        if let StepStatus::Failed { detail } = &s.status {
            return Some(format!("{}: {detail}", s.name));
        }
    }
    None
}

/// Patched against baseline: a test that passed and now fails, a ratio above
/// baseline × (1 + tolerance) and above `floor`, or a kernel event (hung
/// task, lockdep, ...) the baseline did not have.
pub fn compare(
    base: &KernelRun,
    patched: &KernelRun,
    tolerance: f64,
    floor: f64,
) -> Vec<Comparison> {
    let mut out = Vec::new();
    for p in &patched.tests {
        let b = base.tests.iter().find(|b| b.name == p.name);
        let (bs, br) = b
            .map(|b| (b.status.clone(), b.ratio))
            .unwrap_or(("missing".into(), None));
        let mut reason = String::new();
        if p.status == "fail" && (bs == "pass" || bs == "missing") {
            reason = format!("fails (baseline: {bs})");
        } else if let (Some(bv), Some(pv)) = (br, p.ratio) {
            if pv > bv * (1.0 + tolerance) && pv > floor {
                reason = format!("ratio {pv:.2} > baseline {bv:.2} × {:.2}", 1.0 + tolerance);
            }
        }
        out.push(Comparison {
            test: p.name.clone(),
            baseline_status: bs,
            patched_status: p.status.clone(),
            baseline_ratio: br,
            patched_ratio: p.ratio,
            regression: !reason.is_empty(),
            reason,
        });
    }
    for e in &patched.events {
        if !base.events.contains(e) {
            out.push(Comparison {
                test: format!("kernel-event:{e}"),
                baseline_status: "absent".into(),
                patched_status: "present".into(),
                baseline_ratio: None,
                patched_ratio: None,
                regression: true,
                reason: format!(
                    "the patched kernel reports `{e}` while booting; the baseline does not"
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::context::step;

    #[test]
    fn comparison_thresholds() {
        let run = |tests: Vec<(&str, &str, Option<f64>)>, events: Vec<&str>| KernelRun {
            build: step("b", StepStatus::Ok, 0.0, None),
            build_dir: None,
            kernel_release: None,
            compiled: None,
            boot: step("b", StepStatus::Ok, 0.0, None),
            boot_secs: None,
            events: events.into_iter().map(str::to_string).collect(),
            suite: step("s", StepStatus::Ok, 0.0, None),
            tests: tests
                .into_iter()
                .map(|(n, s, r)| SuiteTest {
                    name: n.into(),
                    status: s.into(),
                    ratio: r,
                    unit: "ratio".into(),
                    detail: String::new(),
                    duration_s: None,
                })
                .collect(),
            selftests: None,
        };
        let base = run(
            vec![
                ("a", "pass", Some(2.0)),
                ("b", "fail", Some(9.0)),
                ("c", "pass", Some(1.0)),
            ],
            vec!["hung-task:x"],
        );
        let patched = run(
            vec![
                ("a", "pass", Some(2.9)),
                ("b", "fail", Some(9.5)),
                ("c", "pass", Some(1.6)),
            ],
            vec!["hung-task:x", "lockdep:y"],
        );
        let c = compare(&base, &patched, 0.5, 0.25);
        let reg: Vec<&str> = c
            .iter()
            .filter(|c| c.regression)
            .map(|c| c.test.as_str())
            .collect();
        // a: 2.9 ≤ 3.0; b: failed before too, 9.5 ≤ 13.5; c: 1.6 > 1.5; a new kernel event.
        assert_eq!(reg, ["c", "kernel-event:lockdep:y"]);
        // Twice a tiny ratio (measured on 6.12: 0.087 → 0.181, both passing) is noise.
        let base = run(vec![("m", "pass", Some(0.087))], vec![]);
        let patched = run(vec![("m", "pass", Some(0.181))], vec![]);
        assert!(!compare(&base, &patched, 0.5, 0.25)[0].regression);
        let patched = run(vec![("m", "pass", Some(0.45))], vec![]);
        assert!(compare(&base, &patched, 0.5, 0.25)[0].regression);
    }
}
