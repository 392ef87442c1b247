//! The validation's report: the verdict a run gave a test, the manifest's
//! expectations checked against every run, the ratio spreads, the markdown
//! tables and the text `mmstall vm validate` prints.

use super::model::{Check, KernelResult, SuiteRun, Validation, VariantSpread};
use super::plan::{config_label, kernel_name};
use crate::boot::Outcome;
use crate::stall::analyzer_diff::AnalyzerStatus;
use crate::stall::manifest::Series;
use mmstall_stall_judge::judge;
use mmstall_stall_judge::ktap::Verdict;
use std::collections::BTreeMap;

/// The verdict a run gave a test: the KTAP verdict, or what went wrong.
pub(super) fn verdict_in(run: &SuiteRun, test: &str) -> String {
    match run.verdicts.get(test) {
        Some(v) => v.clone(),
        None => match &run.outcome {
            Outcome::Exited { .. } => "MISSING".into(),
            Outcome::BootTimeout => "BOOT-TIMEOUT".into(),
            Outcome::CommandTimeout => "TIMEOUT".into(),
            Outcome::GuestDied { .. } => "CRASH".into(),
        },
    }
}

/// Expectations → checks against the kernels' runs. `default_config`: the
/// config of kernels named without `@label`.
pub fn checks(
    manifest_series: &[Series],
    kernels: &[KernelResult],
    default_config: &str,
) -> Vec<Check> {
    let mut out = Vec::new();
    for s in manifest_series {
        for e in &s.expect {
            let label = config_label(default_config, e.config.as_deref());
            let base_name = kernel_name("baseline", label.as_deref());
            let patched_name = kernel_name(&s.name, label.as_deref());
            let base = kernels.iter().find(|k| k.kernel == base_name);
            let patched = kernels.iter().find(|k| k.kernel == patched_name);
            for (kernel, k, expected) in [
                (base_name.as_str(), base, &e.baseline),
                (patched_name.as_str(), patched, &e.patched),
            ] {
                let got: Vec<String> = k
                    .map(|k| k.runs.iter().map(|r| verdict_in(r, &e.test)).collect())
                    .unwrap_or_default();
                let ok = !got.is_empty() && got.iter().all(|g| g == expected);
                out.push(Check {
                    series: s.name.clone(),
                    test: e.test.clone(),
                    kernel: kernel.to_string(),
                    expected: expected.clone(),
                    got,
                    ok,
                });
            }
        }
    }
    out
}

pub fn spreads(kernels: &[KernelResult]) -> Vec<VariantSpread> {
    let mut out: Vec<VariantSpread> = Vec::new();
    for k in kernels {
        // (test index, test, variant) → (every rep's ratio, each run's median)
        type Acc = BTreeMap<(usize, String, String), (Vec<f64>, Vec<f64>)>;
        let mut acc: Acc = BTreeMap::new();
        for run in &k.runs {
            let Some(rep) = &run.report else { continue };
            for (ti, t) in rep.tests.iter().enumerate() {
                for v in &t.variants {
                    let e = acc
                        .entry((ti, t.name.clone(), v.variant.clone()))
                        .or_default();
                    e.0.extend(v.reps.iter().filter_map(|r| r.ratio()));
                    if let Some(s) = &v.ratio {
                        e.1.push(s.median);
                    }
                }
            }
        }
        for ((_, test, variant), (all, medians)) in acc {
            out.push(VariantSpread {
                kernel: k.kernel.clone(),
                test,
                variant,
                ratio: judge::spread(&all),
                run_medians: medians,
            });
        }
    }
    out
}

fn cell(k: &KernelResult, test: &str, variant: Option<&str>) -> String {
    if k.runs.is_empty() {
        return "-".into();
    }
    match variant {
        None => {
            let v: Vec<String> = k.runs.iter().map(|r| verdict_in(r, test)).collect();
            // Kernels of another config run only the tests expected there.
            if v.iter().all(|x| x == "MISSING") {
                return "not run".into();
            }
            let first = &v[0];
            if v.iter().all(|x| x == first) {
                if v.len() > 1 {
                    format!("**{first}** ×{}", v.len())
                } else {
                    format!("**{first}**")
                }
            } else {
                v.join("/")
            }
        }
        Some(var) => {
            let medians: Vec<String> = k
                .runs
                .iter()
                .map(|r| {
                    r.report
                        .as_ref()
                        .and_then(|rep| rep.tests.iter().find(|t| t.name == test))
                        .and_then(|t| t.variants.iter().find(|x| x.variant == var))
                        .map(|x| match (&x.ratio, &x.verdict) {
                            (Some(s), _) => format!("{:.3}", s.median),
                            (None, v) => v.word().to_string(),
                        })
                        .unwrap_or_else(|| "-".into())
                })
                .collect();
            medians.join(" / ")
        }
    }
}

/// The validation table (markdown): a row per test (its verdict in every
/// run) and per variant (the median ratio of each run, or the variant's
/// verdict when it is not timed).
pub fn table(kernels: &[KernelResult]) -> String {
    let mut tests: Vec<(String, Vec<String>)> = Vec::new();
    for k in kernels {
        for r in &k.runs {
            if let Some(rep) = &r.report {
                for t in &rep.tests {
                    let entry = match tests.iter_mut().position(|(n, _)| *n == t.name) {
                        Some(i) => &mut tests[i].1,
                        None => {
                            tests.push((t.name.clone(), Vec::new()));
                            &mut tests.last_mut().expect("pushed").1
                        }
                    };
                    for v in &t.variants {
                        if !entry.contains(&v.variant) {
                            entry.push(v.variant.clone());
                        }
                    }
                }
            }
            for name in r.verdicts.keys() {
                if !tests.iter().any(|(n, _)| n == name) {
                    tests.push((name.clone(), Vec::new()));
                }
            }
        }
    }
    let mut s = String::from("| test / variant |");
    for k in kernels {
        s.push_str(&format!(" {} |", k.kernel));
    }
    s.push_str("\n|---|");
    for _ in kernels {
        s.push_str("---|");
    }
    s.push('\n');
    for (t, variants) in &tests {
        s.push_str(&format!("| `{t}` |"));
        for k in kernels {
            s.push_str(&format!(" {} |", cell(k, t, None)));
        }
        s.push('\n');
        for v in variants {
            s.push_str(&format!("| &nbsp;&nbsp;{v} |"));
            for k in kernels {
                s.push_str(&format!(" {} |", cell(k, t, Some(v))));
            }
            s.push('\n');
        }
    }
    s
}

pub fn spread_table(sp: &[VariantSpread]) -> String {
    let mut s = String::from("| kernel | test | variant | reps | min | median | max | per-run medians |\n|---|---|---|---|---|---|---|---|\n");
    for v in sp.iter().filter(|v| v.ratio.is_some()) {
        let (n, mn, md, mx) = v
            .ratio
            .as_ref()
            .map(|r| {
                (
                    r.n.to_string(),
                    format!("{:.3}", r.min),
                    format!("{:.3}", r.median),
                    format!("{:.3}", r.max),
                )
            })
            .unwrap_or(("0".into(), "-".into(), "-".into(), "-".into()));
        s.push_str(&format!(
            "| {} | {} | {} | {n} | {mn} | {md} | {mx} | {} |\n",
            v.kernel,
            v.test,
            v.variant,
            v.run_medians
                .iter()
                .map(|m| format!("{m:.3}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    s
}

/// The text `mmstall vm validate` prints.
pub fn render(v: &Validation) -> String {
    let mut s = String::new();
    s.push_str(&table(&v.kernels));
    s.push('\n');
    s.push_str("Checks:\n");
    for c in &v.checks {
        s.push_str(&format!(
            "  [{}] {} on {}: expected {}, got {}\n",
            if c.ok { "ok" } else { "FAILED" },
            c.test,
            c.kernel,
            c.expected,
            if c.got.is_empty() {
                "no run".to_string()
            } else {
                c.got.join(", ")
            }
        ));
    }
    if !v.analyzer.is_empty() {
        s.push_str("\nStatic analyzer over each series (new findings):\n");
        for a in &v.analyzer {
            let st = match &a.status {
                AnalyzerStatus::Found => "ok".to_string(),
                AnalyzerStatus::Missing => "FAILED".to_string(),
                AnalyzerStatus::Unavailable { reason } => {
                    format!("unavailable: {reason}")
                }
            };
            s.push_str(&format!(
                "  [{st}] {}: expects a new {}; {} new, {} gone\n",
                a.series,
                a.rule,
                a.new.len(),
                a.gone
            ));
            for n in &a.new {
                s.push_str(&format!("      + {}\n", n.describe()));
            }
        }
    }
    s.push_str("\nRatio spread (worst reader latency / operation):\n");
    s.push_str(&spread_table(&v.spreads));
    s.push_str(&format!(
        "\nvalidation: {}\n",
        if v.ok {
            "OK: every test passes on the baseline and flips on its regression kernel"
        } else {
            "FAILED"
        }
    ));
    s
}

/// Verdict words a KTAP verdict maps to (for tests of the table).
pub fn word(v: &Verdict) -> &'static str {
    v.word()
}
