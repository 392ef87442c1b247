//! The mm selftests, patched kernel against baseline: which selftest the
//! series broke (a functional regression), which fail on the baseline too
//! (not the series' doing) and which could not be compared (not checked,
//! never a pass). docs/nightly.md has the table.

use super::context::first_lines;
use crate::model::*;

/// What a selftest's verdict says about the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// pass, or xfail (failed as expected).
    Good,
    Fail,
    Skip,
    /// error (no result, not built), missing, or a verdict this nightly
    /// does not know: it did not run to a verdict.
    NoRun,
}

fn class(t: Option<&Selftest>) -> Class {
    match t.map(|t| t.status.as_str()) {
        Some("pass" | "xfail") => Class::Good,
        Some("fail") => Class::Fail,
        Some("skip") => Class::Skip,
        _ => Class::NoRun,
    }
}

fn status(t: Option<&Selftest>) -> String {
    t.map(|t| t.status.clone())
        .unwrap_or_else(|| "missing".into())
}

fn why(t: Option<&Selftest>) -> String {
    match t {
        Some(t) if !t.reason.is_empty() => format!(" ({})", first_lines(&t.reason, 1)),
        Some(_) => String::new(),
        None => " (not in its report)".into(),
    }
}

/// Each selftest of either kernel (baseline order, then tests only the
/// patched kernel ran), and each kernel event the patched kernel reported
/// while running them that the baseline did not.
pub fn compare_selftests(base: &SelftestRun, patched: &SelftestRun) -> Vec<SelftestComparison> {
    let mut names: Vec<&str> = base.tests.iter().map(|t| t.name.as_str()).collect();
    for t in &patched.tests {
        if !names.contains(&t.name.as_str()) {
            names.push(&t.name);
        }
    }
    let mut out = Vec::new();
    for name in names {
        let b = base.tests.iter().find(|t| t.name == name);
        let p = patched.tests.iter().find(|t| t.name == name);
        let (outcome, reason) = judge(b, p);
        out.push(SelftestComparison {
            test: name.to_string(),
            baseline_status: status(b),
            patched_status: status(p),
            outcome,
            reason,
        });
    }
    for e in &patched.events {
        if !base.events.contains(e) {
            out.push(SelftestComparison {
                test: format!("kernel-event:{e}"),
                baseline_status: "absent".into(),
                patched_status: "present".into(),
                outcome: SelftestOutcome::Regression,
                reason: format!(
                    "the patched kernel reports `{e}` while running the selftests; the baseline does not"
                ),
            });
        }
    }
    out
}

fn judge(b: Option<&Selftest>, p: Option<&Selftest>) -> (SelftestOutcome, String) {
    use Class::*;
    use SelftestOutcome::*;
    match (class(b), class(p)) {
        (Good, Good) | (Skip, Skip) => (Unchanged, String::new()),
        (Skip, Good) => (
            Unchanged,
            format!("runs with the series, skipped on the baseline{}", why(b)),
        ),
        (Fail, Good) => (Unchanged, "fixed by the series".into()),
        (Good, Fail) => (
            Regression,
            format!(
                "{} on the baseline, fails with the series{}",
                if status(b) == "xfail" {
                    "fails as expected"
                } else {
                    "passes"
                },
                why(p)
            ),
        ),
        (Fail, Fail) | (Fail, Skip) => (
            FailingOnBaseline,
            format!("fails on the baseline too{}", why(b)),
        ),
        (_, NoRun) => (
            NotChecked,
            format!("could not run on the patched kernel{}", why(p)),
        ),
        (NoRun, _) => (
            NotChecked,
            format!("could not run on the baseline{}", why(b)),
        ),
        (Good, Skip) => (
            NotChecked,
            format!(
                "skipped on the patched kernel{}, ran on the baseline",
                why(p)
            ),
        ),
        (Skip, Fail) => (
            NotChecked,
            format!(
                "fails with the series{}, but was skipped on the baseline{}",
                why(p),
                why(b)
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::context::step;

    fn run(tests: &[(&str, &str)], events: &[&str]) -> SelftestRun {
        SelftestRun {
            selection: "mm".into(),
            fragments: vec![],
            build: None,
            build_dir: None,
            step: step("s", StepStatus::Ok, 0.0, None),
            events: events.iter().map(|e| e.to_string()).collect(),
            tests: tests
                .iter()
                .map(|(n, s)| Selftest {
                    name: n.to_string(),
                    status: s.to_string(),
                    reason: String::new(),
                    secs: None,
                    log: None,
                    log_tail: String::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn every_pair_of_verdicts() {
        use SelftestOutcome::*;
        let cases = [
            ("pass", "pass", Unchanged),
            ("xfail", "pass", Unchanged),
            ("pass", "xfail", Unchanged),
            ("skip", "skip", Unchanged),
            ("skip", "pass", Unchanged),
            ("fail", "pass", Unchanged),
            ("pass", "fail", Regression),
            ("xfail", "fail", Regression),
            ("fail", "fail", FailingOnBaseline),
            ("fail", "skip", FailingOnBaseline),
            ("pass", "error", NotChecked),
            ("fail", "error", NotChecked),
            ("error", "fail", NotChecked),
            ("error", "pass", NotChecked),
            ("pass", "skip", NotChecked),
            ("skip", "fail", NotChecked),
            ("pass", "bogus", NotChecked),
        ];
        for (b, p, want) in cases {
            let c = compare_selftests(&run(&[("t", b)], &[]), &run(&[("t", p)], &[]));
            assert_eq!(c[0].outcome, want, "{b} -> {p}: {}", c[0].reason);
        }
    }

    #[test]
    fn missing_tests_and_new_kernel_events() {
        let c = compare_selftests(
            &run(&[("a", "pass"), ("b", "pass")], &["oops:x"]),
            &run(&[("a", "pass"), ("c", "pass")], &["oops:x", "hung-task:y"]),
        );
        let got: Vec<(&str, &str, SelftestOutcome)> = c
            .iter()
            .map(|c| (c.test.as_str(), c.patched_status.as_str(), c.outcome))
            .collect();
        assert_eq!(
            got,
            [
                ("a", "pass", SelftestOutcome::Unchanged),
                ("b", "missing", SelftestOutcome::NotChecked),
                ("c", "pass", SelftestOutcome::NotChecked),
                (
                    "kernel-event:hung-task:y",
                    "present",
                    SelftestOutcome::Regression
                ),
            ]
        );
    }
}
