//! `junit.xml`: one `<testsuite>` per job, a case per step, stall test and
//! mm selftest.

use super::common::{hold_note, ratio};
use crate::model::*;
use std::fmt::Write as _;

fn xml(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            // XML 1.0 has no place for other control characters.
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' && c != '\r' => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

enum Case {
    Pass,
    Failure(String, String),
    Error(String, String),
    Skipped(String),
}

fn step_case(s: &StepRecord, failure_is_error: bool) -> Case {
    match &s.status {
        StepStatus::Ok => Case::Pass,
        StepStatus::Failed { detail } if failure_is_error => {
            Case::Error("infrastructure".into(), detail.clone())
        }
        StepStatus::Failed { detail } => Case::Failure("failure".into(), detail.clone()),
        StepStatus::Unavailable { reason } => Case::Skipped(reason.clone()),
        StepStatus::Skipped { reason } => Case::Skipped(reason.clone()),
    }
}

/// JUnit XML in the attribute set of the common schema (Jenkins xunit's
/// junit-10.xsd: no `skipped` on `<testsuites>`): one `<testsuite>` per job
/// with `timestamp` (the job's start, UTC) and `hostname`; a case per step,
/// per stall test (`time` = the guest's measured duration; no `time` when
/// the guest did not report one). A regression fails exactly the cases that
/// regressed (the static analysis, each regressed stall test, each new kernel
/// event: `kernel-event:FINGERPRINT`); an infrastructure error is an `<error>` on
/// the step that failed (a series that does not apply: its static-analysis
/// case). A `verdict` case is added only when no other case carries the
/// verdict. Unavailable parts are `<skipped>`.
pub fn junit(results: &[JobResult], title: &str) -> String {
    let mut suites = String::new();
    let (mut t_all, mut f_all, mut e_all) = (0, 0, 0);
    let mut time_all = 0.0;
    for r in results {
        let cases = job_cases(r);
        let (suite, f, e) = testsuite(r, &cases);
        suites.push_str(&suite);
        t_all += cases.len();
        f_all += f;
        e_all += e;
        time_all += r.duration_s;
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"{}\" tests=\"{t_all}\" failures=\"{f_all}\" errors=\"{e_all}\" time=\"{time_all:.1}\">\n{suites}</testsuites>\n",
        xml(&format!("mmstall nightly: {title}"))
    )
}

/// A job's test cases: its steps, its stall tests (or their comparisons),
/// and a `verdict` case when no other case carries the verdict.
fn job_cases(r: &JobResult) -> Vec<(String, Option<f64>, Case)> {
    let mut cases: Vec<(String, Option<f64>, Case)> = Vec::new();
    cases.push((
        "checkout".into(),
        Some(r.checkout.duration_s),
        step_case(&r.checkout, true),
    ));
    let not_applied = match &r.verdict {
        Verdict::InfraError {
            class: class @ (InfraClass::PatchDoesNotApply | InfraClass::SeriesUnreadable),
            detail,
        } => Some((format!("infrastructure:{}", class.label()), detail.clone())),
        _ => None,
    };
    if let Some(s) = &r.static_ {
        let case = match (&s.step.status, &not_applied) {
            // Findings of a series that does not apply are of a partial tree: not a pass.
            (_, Some((ty, detail))) => Case::Error(ty.clone(), detail.clone()),
            (StepStatus::Ok, None) if !s.introduced.is_empty() => Case::Failure(
                "static-regression".into(),
                s.introduced
                    .iter()
                    .map(|f| {
                        let line = format!("{} {}:{}: {}", f.code, f.file, f.line, f.message);
                        match hold_note(r, &f.fingerprint) {
                            Some(note) => format!("{line}\n  measured: {note}"),
                            None => line,
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            _ => step_case(&s.step, true),
        };
        cases.push(("static analysis".into(), Some(s.step.duration_s), case));
    }
    for (which, run) in [("baseline", &r.baseline), ("patched", &r.patched)] {
        let Some(k) = run else { continue };
        cases.push((
            format!("{which} build"),
            Some(k.build.duration_s),
            step_case(&k.build, true),
        ));
        cases.push((
            format!("{which} boot"),
            Some(k.boot.duration_s),
            step_case(&k.boot, true),
        ));
        if !matches!(k.suite.status, StepStatus::Ok) {
            cases.push((
                format!("{which} stall suite"),
                Some(k.suite.duration_s),
                step_case(&k.suite, true),
            ));
        }
        if let Some(st) = &k.selftests {
            if let Some(b) = &st.build {
                cases.push((
                    format!("{which} kselftest build"),
                    Some(b.duration_s),
                    step_case(b, true),
                ));
            }
            if !matches!(st.step.status, StepStatus::Ok) {
                cases.push((
                    format!("{which} mm selftests"),
                    Some(st.step.duration_s),
                    step_case(&st.step, true),
                ));
            }
        }
    }
    selftest_cases(r, &mut cases);
    if r.is_baseline() {
        if let Some(b) = &r.baseline {
            for t in &b.tests {
                let case = match t.status.as_str() {
                    "pass" => Case::Pass,
                    "skip" => Case::Skipped(t.detail.clone()),
                    "fail" => Case::Failure(
                        "stall".into(),
                        format!("ratio {}: {}", ratio(t.ratio), t.detail),
                    ),
                    _ => Case::Error("test-error".into(), t.detail.clone()),
                };
                cases.push((format!("stall/{}", t.name), t.duration_s, case));
            }
        }
    } else {
        let patched_time = |name: &str| {
            r.patched
                .as_ref()
                .and_then(|p| p.tests.iter().find(|t| t.name == name))
                .and_then(|t| t.duration_s)
        };
        for c in &r.comparisons {
            let case = if c.regression {
                Case::Failure("dynamic-regression".into(), c.reason.clone())
            } else {
                Case::Pass
            };
            // A new kernel event is compared as `kernel-event:FINGERPRINT`.
            let name = if c.test.starts_with("kernel-event:") {
                c.test.clone()
            } else {
                format!("stall/{}", c.test)
            };
            cases.push((name, patched_time(&c.test), case));
        }
    }
    // A failed step of an infrastructure error is typed with its class.
    if let Verdict::InfraError { class, .. } = &r.verdict {
        for (_, _, c) in cases.iter_mut() {
            if let Case::Error(ty, _) = c {
                if ty == "infrastructure" {
                    *ty = format!("infrastructure:{}", class.label());
                }
            }
        }
    }
    let carried = |want_failure: bool| {
        cases.iter().any(|(_, _, c)| {
            if want_failure {
                matches!(c, Case::Failure(..))
            } else {
                matches!(c, Case::Error(..))
            }
        })
    };
    match &r.verdict {
        Verdict::Pass { .. } => {}
        Verdict::Regression { .. } if !carried(true) => cases.push((
            "verdict".into(),
            None,
            Case::Failure("regression".into(), r.verdict.word()),
        )),
        Verdict::InfraError { class, detail } if !carried(false) => cases.push((
            "verdict".into(),
            None,
            Case::Error(format!("infrastructure:{}", class.label()), detail.clone()),
        )),
        _ => {}
    }
    cases
}

/// One case per mm selftest of the job's kernel (`mm selftest/NAME`): the
/// baseline job's as they are (a failure fails its case); a series job's
/// against the baseline: a functional regression fails, a test failing on
/// the baseline too is skipped with that reason (not the series' doing), a
/// test not compared is an error. Failures and errors carry the end of the
/// test's log.
fn selftest_cases(r: &JobResult, cases: &mut Vec<(String, Option<f64>, Case)>) {
    let run = if r.is_baseline() {
        &r.baseline
    } else {
        &r.patched
    };
    let Some(st) = run.as_ref().and_then(|k| k.selftests.as_ref()) else {
        return;
    };
    let with_log = |why: &str, t: &Selftest| {
        if t.log_tail.is_empty() {
            why.to_string()
        } else {
            format!(
                "{why}\n--- end of {}\n{}",
                t.log.as_deref().unwrap_or("its log"),
                t.log_tail
            )
        }
    };
    for t in &st.tests {
        let compared = r.selftest_comparisons.iter().find(|c| c.test == t.name);
        let case = match (compared.map(|c| c.outcome), t.status.as_str()) {
            (Some(SelftestOutcome::Regression), _) => Case::Failure(
                "functional-regression".into(),
                with_log(&compared.map(|c| c.reason.clone()).unwrap_or_default(), t),
            ),
            (Some(SelftestOutcome::FailingOnBaseline), _) => Case::Skipped(format!(
                "not a regression: {}",
                compared.map(|c| c.reason.as_str()).unwrap_or_default(),
            )),
            (Some(SelftestOutcome::NotChecked), _) => Case::Error(
                "not-checked".into(),
                with_log(&compared.map(|c| c.reason.clone()).unwrap_or_default(), t),
            ),
            (_, "pass" | "xfail") => Case::Pass,
            (_, "skip") => Case::Skipped(t.reason.clone()),
            (_, "fail") if r.is_baseline() => {
                Case::Failure("selftest".into(), with_log(&t.reason, t))
            }
            (_, status) => Case::Error(
                "not-checked".into(),
                with_log(&format!("{status}: {}", t.reason), t),
            ),
        };
        cases.push((format!("mm selftest/{}", t.name), t.secs, case));
    }
    for c in &r.selftest_comparisons {
        if c.test.starts_with("kernel-event:") && c.outcome == SelftestOutcome::Regression {
            cases.push((
                format!("mm selftest/{}", c.test),
                None,
                Case::Failure("functional-regression".into(), c.reason.clone()),
            ));
        }
    }
}

/// A job's `<testsuite>` element and its failure and error counts.
fn testsuite(r: &JobResult, cases: &[(String, Option<f64>, Case)]) -> (String, usize, usize) {
    let mut suite = String::new();
    let (mut f, mut e, mut s) = (0, 0, 0);
    let mut body = String::new();
    let _ = writeln!(body, "    <properties>");
    for (k, v) in [
        ("series", &r.series),
        ("kernel", &r.kernel),
        ("kernel_source", &r.kernel_source),
        ("config", &r.config),
        ("night", &r.night),
        ("verdict", &r.verdict.word()),
    ] {
        let _ = writeln!(
            body,
            "      <property name=\"{}\" value=\"{}\"/>",
            xml(k),
            xml(v)
        );
    }
    // The measured hold of each introduced finding, by fingerprint.
    for h in r.confirm.iter().flat_map(|c| &c.findings) {
        let _ = writeln!(
            body,
            "      <property name=\"confirm.{}\" value=\"{}\"/>",
            xml(&h.fingerprint),
            xml(&format!(
                "series: {}; baseline: {}",
                h.patched.describe(),
                h.baseline.describe()
            ))
        );
    }
    let _ = writeln!(body, "    </properties>");
    let classname = xml(&format!("{}.{}.{}", r.series, r.kernel, r.config));
    for (name, time, case) in cases {
        let time = time
            .filter(|t| t.is_finite() && *t >= 0.0)
            .map(|t| format!(" time=\"{t:.3}\""))
            .unwrap_or_default();
        let open = format!(
            "    <testcase classname=\"{classname}\" name=\"{}\"{time}",
            xml(name)
        );
        match case {
            Case::Pass => {
                let _ = writeln!(body, "{open}/>");
            }
            Case::Failure(ty, msg) => {
                f += 1;
                let _ = writeln!(body, "{open}>\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>", xml(ty), xml(msg.lines().next().unwrap_or("")), xml(msg));
            }
            Case::Error(ty, msg) => {
                e += 1;
                let _ = writeln!(
                    body,
                    "{open}>\n      <error type=\"{}\" message=\"{}\">{}</error>\n    </testcase>",
                    xml(ty),
                    xml(msg.lines().next().unwrap_or("")),
                    xml(msg)
                );
            }
            Case::Skipped(msg) => {
                s += 1;
                let _ = writeln!(
                    body,
                    "{open}>\n      <skipped message=\"{}\"/>\n    </testcase>",
                    xml(msg)
                );
            }
        }
    }
    let timestamp = r
        .started
        .clone()
        .unwrap_or_else(|| format!("{}T00:00:00", r.night));
    let _ = writeln!(
        suite,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{f}\" errors=\"{e}\" skipped=\"{s}\" time=\"{:.1}\" timestamp=\"{}\" hostname=\"{}\">\n{body}  </testsuite>",
        xml(&r.job),
        cases.len(),
        r.duration_s,
        xml(&timestamp),
        xml(r.host.as_deref().unwrap_or("unknown"))
    );
    (suite, f, e)
}
