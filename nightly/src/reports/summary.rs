//! `summary.md`: what a maintainer reads first.

use super::common::ratio;
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
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | [logs](logs/{}/) |",
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
            r.job
        );
    };
    let header = "| series | kernel | config | verdict | static (new / fixed) | dynamic regressions | logs |\n|---|---|---|---|---|---|---|";
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
    let _ = writeln!(o, "## Kernels\n\n| kernel | config | release | build | boot | stall suite | tests |\n|---|---|---|---|---|---|---|");
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
                    "| {} | {} | {} | {} ({:.0} s) | {} | {} | {} |",
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
                    }
                );
            }
            None => {
                let _ = writeln!(
                    o,
                    "| {} | {} | – | not built | – | – | {} |",
                    md(&r.kernel),
                    md(&r.config),
                    md(&r.verdict.word())
                );
            }
        }
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
}
