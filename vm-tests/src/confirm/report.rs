//! The confirmation as text (the outcome table, the stacks of confirmed
//! findings, the discoveries, the counts) and as JSON.

use super::matching::{Confirmation, Evidence, Outcome};
use std::fmt::Write;

/// Frames of a stack shown in the text (the JSON keeps them all).
const SHOWN_FRAMES: usize = 6;

fn figure(ev: Option<&Evidence>, size: u64) -> String {
    ev.and_then(|e| e.sizes.iter().find(|s| s.size_mib == size))
        .map_or("-".to_string(), |s| format!("{:.1} ms", s.max_ms))
}

fn growth(ev: Option<&Evidence>) -> String {
    ev.and_then(|e| e.growth)
        .map_or("-".to_string(), |g| format!("{g:.2}x"))
}

fn workload(ev: Option<&Evidence>) -> String {
    ev.and_then(|e| e.largest())
        .map_or("-".to_string(), |s| s.recipe.clone())
}

fn stack(frames: &[String]) -> String {
    let mut s = frames
        .iter()
        .take(SHOWN_FRAMES)
        .cloned()
        .collect::<Vec<_>>()
        .join(" < ");
    if frames.len() > SHOWN_FRAMES {
        s.push_str(" < ...");
    }
    s
}

fn evidence_of(o: &Outcome) -> Option<&Evidence> {
    match o {
        Outcome::Confirmed { evidence } | Outcome::Short { evidence } => Some(evidence),
        _ => None,
    }
}

/// Rows of cells → aligned columns (the last one not padded).
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == r.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ", w = widths[c]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The whole text report.
pub fn render(c: &Confirmation) -> String {
    let mut out = String::new();
    let sizes: Vec<String> = c.sizes_mib.iter().map(|s| format!("{s} MiB")).collect();
    let _ = writeln!(
        out,
        "mmstall confirm: {} ({}); a hold of {} ms or more at the largest size is long",
        c.kernel_release,
        if sizes.is_empty() {
            "no sized recipe runs".to_string()
        } else {
            format!("sizes {}", sizes.join(", "))
        },
        c.threshold_ms
    );
    out.push('\n');
    let mut rows = vec![{
        let mut h = vec![
            "finding".to_string(),
            "mode".to_string(),
            "workload".to_string(),
        ];
        h.extend(sizes.iter().cloned());
        h.extend(["growth".to_string(), "outcome".to_string()]);
        h
    }];
    for fo in &c.outcomes {
        let f = &fo.finding;
        let ev = evidence_of(&fo.outcome);
        let mut row = vec![
            format!(
                "{} {}:{} {} ({})",
                f.code, f.file, f.line, f.function, f.holder
            ),
            f.lock_mode.clone(),
            workload(ev),
        ];
        row.extend(c.sizes_mib.iter().map(|&s| figure(ev, s)));
        row.push(growth(ev));
        row.push(match &fo.outcome {
            Outcome::NotReached { recipes } => {
                format!("not reached (ran {})", recipes.join(", "))
            }
            Outcome::NoWorkload { reason } => format!("no workload ({reason})"),
            o => o.word().to_string(),
        });
        rows.push(row);
    }
    out.push_str(&table(&rows));
    let confirmed: Vec<_> = c
        .outcomes
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::Confirmed { .. }))
        .collect();
    if !confirmed.is_empty() {
        out.push_str("\nstacks of the confirmed holds (longest at the largest size):\n");
        for fo in confirmed {
            let Outcome::Confirmed { evidence: e } = &fo.outcome else {
                continue;
            };
            let _ = writeln!(
                out,
                "  {} {}:{} ({}): {} hold, {}{}\n    acquired: {}\n    ended:    {}",
                fo.finding.code,
                fo.finding.file,
                fo.finding.line,
                fo.finding.holder,
                e.mode.word(),
                match e.end {
                    mmstall_stall_judge::holds::HoldEnd::Released => "released",
                    mmstall_stall_judge::holds::HoldEnd::Downgraded => "ended by a downgrade",
                    mmstall_stall_judge::holds::HoldEnd::Unreleased =>
                        "still held at the end of the trace",
                },
                if e.site_in_stack {
                    "; the site's function is in the stack"
                } else {
                    ""
                },
                stack(&e.acquire_stack),
                stack(&e.release_stack),
            );
        }
    }
    out.push('\n');
    if c.discovered.is_empty() {
        let _ = writeln!(
            out,
            "discovery: every write hold of {} ms or more is explained by a finding",
            c.threshold_ms
        );
    } else {
        let _ = writeln!(
            out,
            "discovery: {} long write hold(s) no finding explains:",
            c.discovered.len()
        );
        for d in &c.discovered {
            let figures: Vec<String> = d
                .evidence
                .sizes
                .iter()
                .map(|s| match s.size_mib {
                    0 => format!("{:.1} ms", s.max_ms),
                    n => format!("{:.1} ms at {n} MiB", s.max_ms),
                })
                .collect();
            let _ = writeln!(
                out,
                "  {} ({}): {}{}\n    acquired: {}",
                d.signature.first().map_or("?", String::as_str),
                workload(Some(&d.evidence)),
                figures.join(", "),
                growth(Some(&d.evidence)).strip_prefix('-').map_or_else(
                    || format!(", growth {}", growth(Some(&d.evidence))),
                    |_| String::new()
                ),
                stack(&d.evidence.acquire_stack)
            );
        }
    }
    let count = |w: &str| c.outcomes.iter().filter(|o| o.outcome.word() == w).count();
    let unavailable: Vec<String> = c
        .runs
        .iter()
        .filter(|r| {
            matches!(
                r.status,
                mmstall_stall_judge::confirm_report::RunStatus::Unavailable { .. }
            )
        })
        .map(|r| r.recipe.clone())
        .fold(Vec::new(), |mut v, r| {
            if !v.contains(&r) {
                v.push(r);
            }
            v
        });
    let lost: u64 = c.runs.iter().map(|r| r.lost_events).sum();
    let _ = writeln!(
        out,
        "\n{} findings: {} confirmed, {} short, {} not reached, {} no workload; {} recipe runs{}{}",
        c.outcomes.len(),
        count("confirmed"),
        count("short"),
        count("not reached"),
        count("no workload"),
        c.runs.len(),
        if unavailable.is_empty() {
            String::new()
        } else {
            format!(" (unavailable in this kernel: {})", unavailable.join(", "))
        },
        if lost > 0 {
            format!("; {lost} trace events lost (figures may be incomplete)")
        } else {
            String::new()
        },
    );
    out
}

#[cfg(test)]
mod tests {
    use super::super::catalogue::Catalogue;
    use super::super::matching;
    use super::*;

    #[test]
    fn outcome_table_snapshot() {
        let (findings, report) = matching::tests::sample();
        let c = matching::confirm(&findings, &report, &Catalogue::builtin(), 50.0);
        insta::assert_snapshot!(render(&c));
    }
}
