//! `summary.md`: what a maintainer reads first.

use super::common::{hold_note, ratio};
use crate::model::*;
use std::fmt::Write as _;

fn md(s: &str) -> String {
    s.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\n', " ")
}

fn step_word(s: &StepRecord) -> String {
    match &s.status {
        StepStatus::Ok => "ok".into(),
        StepStatus::Failed { .. } => "FAILED".into(),
        StepStatus::Unavailable { .. } => "unavailable".into(),
        StepStatus::Skipped { .. } => "skipped".into(),
    }
}

/// What a maintainer reads first: regressions, then infrastructure errors
/// (kept apart), then passes and what could not be checked.
pub fn markdown(results: &[JobResult], title: &str) -> String {
    let mut o = String::new();
    let nights: Vec<&str> = {
        let mut n: Vec<&str> = results.iter().map(|r| r.night.as_str()).collect();
        n.sort_unstable();
        n.dedup();
        n
    };
    let _ = writeln!(
        o,
        "# mmstall nightly: {} ({})\n",
        md(title),
        if nights.is_empty() {
            "no results yet".into()
        } else {
            nights.join(", ")
        }
    );
    let series: Vec<&JobResult> = results.iter().filter(|r| !r.is_baseline()).collect();
    let reg = series.iter().filter(|r| r.verdict.is_regression()).count();
    let infra = results.iter().filter(|r| r.verdict.is_infra()).count();
    let pass = series
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Pass { .. }))
        .count();
    let partial = results
        .iter()
        .filter(|r| matches!(&r.verdict, Verdict::Pass { not_checked } if !not_checked.is_empty()))
        .count();
    let _ = writeln!(
        o,
        "**{} series job(s): {reg} regression(s), {pass} pass(es), {} infrastructure error(s).** {} job(s) ran with parts unchecked (listed below: an unchecked part is never counted as a pass).\n",
        series.len(),
        series.iter().filter(|r| r.verdict.is_infra()).count(),
        partial
    );

    let row = |o: &mut String, r: &JobResult| {
        let st = r.static_.as_ref().map(|s| match &s.step.status {
            StepStatus::Ok => format!("+{} / −{}", s.introduced.len(), s.fixed.len()),
            _ => step_word(&s.step),
        });
        let dynm = r.comparisons.iter().filter(|c| c.regression).count();
        let func = r
            .selftest_comparisons
            .iter()
            .filter(|c| c.outcome == SelftestOutcome::Regression)
            .count();
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | [logs](logs/{}/) |",
            md(&r.series),
            md(&r.kernel),
            md(&r.config),
            md(&r.verdict.word()),
            st.unwrap_or_else(|| "–".into()),
            if r.comparisons.is_empty() {
                "–".into()
            } else {
                format!("{dynm} of {}", r.comparisons.len())
            },
            if r.selftest_comparisons.is_empty() {
                "–".into()
            } else {
                format!("{func} of {}", r.selftest_comparisons.len())
            },
            r.job
        );
    };
    let header = "| series | kernel | config | verdict | static (new / fixed) | dynamic regressions | functional regressions (mm selftests) | logs |\n|---|---|---|---|---|---|---|---|";
    if reg > 0 {
        let _ = writeln!(o, "## Regressions\n\n{header}");
        for r in series.iter().filter(|r| r.verdict.is_regression()) {
            row(&mut o, r);
        }
        o.push('\n');
    }
    if infra > 0 {
        let _ = writeln!(o, "## Infrastructure errors (not kernel regressions)\n\n| job | class | detail |\n|---|---|---|");
        for r in results.iter() {
            if let Verdict::InfraError { class, detail } = &r.verdict {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} |",
                    md(&r.job),
                    class.label(),
                    md(&detail.chars().take(300).collect::<String>())
                );
            }
        }
        o.push('\n');
    }
    if pass > 0 {
        let _ = writeln!(o, "## Passes\n\n{header}");
        for r in series
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::Pass { .. }))
        {
            row(&mut o, r);
        }
        o.push('\n');
    }
    not_checked(&mut o, results);
    kernels(&mut o, results);
    for r in &series {
        series_detail(&mut o, r);
    }
    o
}

/// What each job could not check (gaps of passes and regressions).
fn not_checked(o: &mut String, results: &[JobResult]) {
    let mut gaps: Vec<(String, String)> = Vec::new();
    for r in results {
        if let Verdict::Pass { not_checked } | Verdict::Regression { not_checked, .. } = &r.verdict
        {
            for g in not_checked {
                gaps.push((r.job.clone(), g.clone()));
            }
        }
    }
    if !gaps.is_empty() {
        let _ = writeln!(o, "## Not checked\n\n| job | what |\n|---|---|");
        for (j, g) in gaps {
            let _ = writeln!(o, "| {} | {} |", md(&j), md(&g));
        }
        o.push('\n');
    }
}

/// The baseline of each kernel × config: release, steps, stall tests.
fn kernels(o: &mut String, results: &[JobResult]) {
    let _ = writeln!(o, "## Kernels\n\n| kernel | config | release | build | boot | stall suite | tests | mm selftests |\n|---|---|---|---|---|---|---|---|");
    for r in results.iter().filter(|r| r.is_baseline()) {
        match &r.baseline {
            Some(b) => {
                let tests: Vec<String> = b
                    .tests
                    .iter()
                    .map(|t| format!("{} {} {}", md(&t.name), t.status, ratio(t.ratio)))
                    .collect();
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} ({:.0} s) | {} | {} | {} | {} |",
                    md(&r.kernel),
                    md(&r.config),
                    md(b.kernel_release.as_deref().unwrap_or("–")),
                    step_word(&b.build),
                    b.build.duration_s,
                    step_word(&b.boot),
                    step_word(&b.suite),
                    if tests.is_empty() {
                        "–".into()
                    } else {
                        tests.join("<br>")
                    },
                    selftest_counts(b.selftests.as_ref())
                );
            }
            None => {
                let _ = writeln!(
                    o,
                    "| {} | {} | – | not built | – | – | {} | – |",
                    md(&r.kernel),
                    md(&r.config),
                    md(&r.verdict.word())
                );
            }
        }
    }
    o.push('\n');
}

/// `2 pass, 1 fail, 1 skip` of a kernel's selftests (or its step's state).
fn selftest_counts(st: Option<&SelftestRun>) -> String {
    let Some(st) = st else { return "–".into() };
    if let Some(b) = st
        .build
        .as_ref()
        .filter(|b| !matches!(b.status, StepStatus::Ok))
    {
        return format!("kernel {}", step_word(b));
    }
    if !matches!(st.step.status, StepStatus::Ok) && st.tests.is_empty() {
        return step_word(&st.step);
    }
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for t in &st.tests {
        match counts.iter_mut().find(|(s, _)| *s == t.status) {
            Some((_, n)) => *n += 1,
            None => counts.push((&t.status, 1)),
        }
    }
    let parts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    format!("{} ({})", parts.join(", "), md(&st.selection))
}

/// The selftests of a series job, baseline against patched: the outcome
/// and why, with each kernel's verdict.
fn selftest_table(o: &mut String, r: &JobResult) {
    if r.selftest_comparisons.is_empty() {
        return;
    }
    let reason = |run: &Option<KernelRun>, name: &str| {
        run.as_ref()
            .and_then(|k| k.selftests.as_ref())
            .and_then(|st| st.tests.iter().find(|t| t.name == name))
            .map(|t| t.reason.clone())
            .filter(|r| !r.is_empty())
            .map(|r| format!(": {}", md(&r.chars().take(120).collect::<String>())))
            .unwrap_or_default()
    };
    let _ = writeln!(
        o,
        "| mm selftest | baseline | patched | outcome |\n|---|---|---|---|"
    );
    for c in &r.selftest_comparisons {
        let outcome = match c.outcome {
            SelftestOutcome::Regression => format!("**functional regression**: {}", md(&c.reason)),
            SelftestOutcome::FailingOnBaseline => {
                "failing on baseline too (not a regression)".into()
            }
            SelftestOutcome::NotChecked => format!("**not checked**: {}", md(&c.reason)),
            SelftestOutcome::Unchanged if c.reason.is_empty() => "unchanged".into(),
            SelftestOutcome::Unchanged => format!("unchanged ({})", md(&c.reason)),
        };
        let _ = writeln!(
            o,
            "| {} | {}{} | {}{} | {outcome} |",
            md(&c.test),
            c.baseline_status,
            reason(&r.baseline, &c.test),
            c.patched_status,
            reason(&r.patched, &c.test),
        );
    }
    o.push('\n');
}

/// One series job: its verdict, patches, new findings and comparisons.
fn series_detail(o: &mut String, r: &JobResult) {
    let _ = writeln!(
        o,
        "## {} on {} / {}: {}\n",
        md(&r.series),
        md(&r.kernel),
        md(&r.config),
        md(&r.verdict.word())
    );
    if let Verdict::InfraError { detail, .. } = &r.verdict {
        let _ = writeln!(o, "```\n{}\n```\n", detail.replace("```", "'''"));
    }
    if let Some(s) = &r.static_ {
        if !s.patches.is_empty() {
            let _ = writeln!(
                o,
                "| # | patch | status | new findings | fixed |\n|--:|---|---|--:|--:|"
            );
            for p in &s.patches {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} |",
                    p.index,
                    md(&p.subject),
                    md(&p.status),
                    p.introduced,
                    p.fixed
                );
            }
            o.push('\n');
        }
        for f in &s.introduced {
            let _ = writeln!(
                o,
                "- new `{}` {}:{}:{} in `{}`: {}",
                f.code,
                md(&f.file),
                f.line,
                f.column,
                md(&f.function),
                md(&f.message)
            );
            if let Some(note) = hold_note(r, &f.fingerprint) {
                let _ = writeln!(o, "  - measured: {}", md(&note));
            }
        }
        if !s.introduced.is_empty() {
            o.push('\n');
        }
    }
    if !r.comparisons.is_empty() {
        let _ = writeln!(
            o,
            "| test | baseline | patched | regression |\n|---|---|---|---|"
        );
        for c in &r.comparisons {
            let _ = writeln!(
                o,
                "| {} | {} {} | {} {} | {} |",
                md(&c.test),
                c.baseline_status,
                ratio(c.baseline_ratio),
                c.patched_status,
                ratio(c.patched_ratio),
                if c.regression {
                    format!("**yes**: {}", md(&c.reason))
                } else {
                    "no".into()
                }
            );
        }
        o.push('\n');
    }
    selftest_table(o, r);
}
