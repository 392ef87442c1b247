//! Output of `mmstall diff` and `mmstall series`: text, JSON, SARIF (diff:
//! the introduced findings only) and Markdown (series, for a CI comment).

use std::collections::HashMap;
use std::fmt::Write;

use mmstall_analyzer::{printers, Finding};

use crate::series::{PatchResult, SeriesReport};
use crate::workspace::DiffReport;

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A finding as rustc-like lines, with the source line when known.
fn finding_block(out: &mut String, mark: &str, f: &Finding, sources: &HashMap<String, String>) {
    let _ = writeln!(
        out,
        "{mark} {}:{}:{}: {}[{}]: {}",
        f.file,
        f.line,
        f.column,
        f.severity.as_str(),
        f.code,
        f.message
    );
    if let Some(line) = sources
        .get(&f.file)
        .and_then(|s| s.lines().nth((f.line as usize).saturating_sub(1)))
    {
        let gutter = f.line.to_string().len();
        let prefix = line
            .get(..(f.column as usize).saturating_sub(1))
            .unwrap_or("");
        let pad = prefix
            .chars()
            .map(|c| if c == '\t' { 4 } else { 1 })
            .sum::<usize>();
        let _ = writeln!(out, "  {:>gutter$} |", "");
        let _ = writeln!(out, "  {} | {}", f.line, line.replace('\t', "    "));
        let _ = writeln!(
            out,
            "  {:>gutter$} | {}{}",
            "",
            " ".repeat(pad),
            "^".repeat(f.operation.len().max(1))
        );
    }
    let _ = writeln!(
        out,
        "    = note: lock taken for write at {}:{} in `{}`",
        f.acquired_at.file, f.acquired_at.line, f.holder
    );
    if f.call_path.len() > 1 {
        let _ = writeln!(out, "    = note: call path: {}", f.call_path.join(" → "));
    }
    if !f.context.is_empty() {
        let _ = writeln!(
            out,
            "    = note: with constant arguments {}",
            f.context.join(", ")
        );
    }
}

fn one_line(f: &Finding) -> String {
    format!(
        "{}:{}:{}: {}[{}]: {}",
        f.file,
        f.line,
        f.column,
        f.severity.as_str(),
        f.code,
        f.message
    )
}

pub fn diff_text(r: &DiffReport) -> String {
    let mut out = String::new();
    let scope = if r.paths.is_empty() {
        "whole tree".to_string()
    } else {
        r.paths.join(", ")
    };
    let _ = writeln!(
        out,
        "mmstall diff {} → {} ({scope}; {} changed)",
        r.old_rev,
        r.new_rev,
        plural(r.changed_files.len(), "file", "files")
    );
    let d = &r.diff;
    let _ = writeln!(out, "\nintroduced ({}):", d.introduced.len());
    for f in &d.introduced {
        finding_block(&mut out, "+", f, &r.new.sources);
    }
    let _ = writeln!(out, "\nfixed ({}):", d.fixed.len());
    for f in &d.fixed {
        finding_block(&mut out, "-", f, &r.old.sources);
    }
    let _ = writeln!(out, "\nunchanged ({}):", d.unchanged.len());
    for f in &d.unchanged {
        let _ = writeln!(out, "= {}", one_line(f));
    }
    for s in &r.new.report.skipped {
        let _ = writeln!(out, "skipped ({}): {}: {}", r.new_rev, s.file, s.reason);
    }
    let _ = writeln!(
        out,
        "\n{} introduced, {} fixed, {} unchanged",
        d.introduced.len(),
        d.fixed.len(),
        d.unchanged.len()
    );
    out
}

pub fn diff_json(r: &DiffReport) -> String {
    let v = serde_json::json!({
        "version": 1,
        "old": { "rev": r.old_rev, "tree": r.old.tree.to_string(), "findings": r.old.report.findings.len(), "timing": r.old.timing },
        "new": { "rev": r.new_rev, "tree": r.new.tree.to_string(), "findings": r.new.report.findings.len(), "timing": r.new.timing },
        "paths": r.paths,
        "changed_files": r.changed_files,
        "introduced": r.diff.introduced,
        "fixed": r.diff.fixed,
        "unchanged": r.diff.unchanged,
        "skipped": r.new.report.skipped,
    });
    serde_json::to_string_pretty(&v).expect("a report serializes") + "\n"
}

/// SARIF 2.1.0 of the introduced findings only (what a code-scanning upload
/// for a branch should flag).
pub fn diff_sarif(r: &DiffReport) -> String {
    printers::sarif::render(&r.diff.introduced)
}

/// Timing of both sides, for `--stats` (stderr).
pub fn diff_stats(r: &DiffReport) -> String {
    let mut out = String::new();
    for (label, a) in [("old", &r.old), ("new", &r.new)] {
        let t = &a.timing;
        let _ = writeln!(
            out,
            "{label}: {} files ({} scanned, {} known by content), load {} ms, analysis {} ms{}, chunks parsed {} (from cache {}), summaries computed {} (reused {}){}",
            a.report.stats.files,
            t.files_scanned,
            t.files_from_cache,
            t.load_ms,
            t.analyze_ms,
            t.cpu_ms.map(|c| format!(" (CPU {c} ms)")).unwrap_or_default(),
            t.parse_misses,
            t.parse_hits,
            t.summaries_computed,
            t.summaries_reused,
            if t.reused { ", same files as an earlier tree: reused" } else { "" }
        );
    }
    out
}

fn status_word(p: &PatchResult) -> &'static str {
    match p {
        PatchResult::Applied => "applied",
        PatchResult::Failed { .. } => "FAILED",
        PatchResult::NotAttempted => "not attempted",
    }
}

pub fn series_text(r: &SeriesReport) -> String {
    let mut out = String::new();
    let scope = if r.paths.is_empty() {
        "whole tree".to_string()
    } else {
        r.paths.join(", ")
    };
    let _ = writeln!(
        out,
        "mmstall series {} onto {} ({scope})",
        r.series, r.base_rev
    );
    if let Some(c) = &r.cover {
        let _ = writeln!(out, "cover letter: {c}");
    }
    for w in &r.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let _ = writeln!(
        out,
        "base: {}",
        plural(r.base.report.findings.len(), "finding", "findings")
    );
    let width = r
        .patches
        .iter()
        .map(|p| p.subject.chars().count())
        .max()
        .unwrap_or(0)
        .min(60);
    let _ = writeln!(
        out,
        "\n{:>3}  {:<width$}  {:<13}  {:>10}  {:>5}",
        "#", "subject", "status", "introduced", "fixed"
    );
    for p in &r.patches {
        let subject: String = p.subject.chars().take(60).collect();
        let (i, f) = match p.result {
            PatchResult::Applied => (p.introduced.len().to_string(), p.fixed.len().to_string()),
            _ => ("-".into(), "-".into()),
        };
        let _ = writeln!(
            out,
            "{:>3}  {:<width$}  {:<13}  {:>10}  {:>5}",
            p.index,
            subject,
            status_word(&p.result),
            i,
            f
        );
    }
    for p in &r.patches {
        let has_detail = !p.introduced.is_empty()
            || !p.fixed.is_empty()
            || !p.offsets.is_empty()
            || matches!(p.result, PatchResult::Failed { .. });
        if !has_detail {
            continue;
        }
        let _ = writeln!(out, "\npatch {} \"{}\":", p.index, p.subject);
        if let PatchResult::Failed { error, .. } = &p.result {
            let _ = writeln!(out, "  does not apply: {error}");
        }
        for o in &p.offsets {
            let _ = writeln!(out, "  note: {o}");
        }
        for f in &p.introduced {
            finding_block(&mut out, "  +", f, &r.last.sources);
        }
        for f in &p.fixed {
            let _ = writeln!(out, "  - {}", one_line(f));
        }
    }
    if !r.skipped.is_empty() {
        let _ = writeln!(out);
    }
    for s in &r.skipped {
        let _ = writeln!(out, "skipped: {}: {}", s.file, s.reason);
    }
    let _ = writeln!(
        out,
        "\n{} of {} applied{}; series: {} introduced, {} fixed ({} findings after the last applied patch)",
        r.applied(),
        r.patches.len(),
        if r.failed() > 0 { format!(", {} failed", r.failed()) } else { String::new() },
        r.net.introduced.len(),
        r.net.fixed.len(),
        r.last.report.findings.len()
    );
    out
}

pub fn series_json(r: &SeriesReport) -> String {
    let mut v = serde_json::to_value(r).expect("a report serializes");
    if let Some(o) = v.as_object_mut() {
        o.insert("version".into(), 1.into());
        o.insert("exit_code".into(), r.exit_code().into());
    }
    serde_json::to_string_pretty(&v).expect("a report serializes") + "\n"
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Markdown for a CI comment: a verdict line, a table, details per patch.
pub fn series_markdown(r: &SeriesReport) -> String {
    let mut out = String::new();
    let verdict = match r.exit_code() {
        1 => format!(
            ":x: this series introduces {}",
            plural(
                r.net.introduced.len(),
                "mmap_lock write-hold finding",
                "mmap_lock write-hold findings"
            )
        ),
        3 => ":warning: no new findings, but not every patch applied".to_string(),
        _ => ":white_check_mark: no new mmap_lock write-hold findings".to_string(),
    };
    let _ = writeln!(out, "### mmstall: {verdict}\n");
    let _ = writeln!(
        out,
        "Base `{}`, {} patches, {}.\n",
        md_escape(&r.base_rev),
        r.patches.len(),
        if r.paths.is_empty() {
            "whole tree".to_string()
        } else {
            format!("paths `{}`", r.paths.join("`, `"))
        }
    );
    let _ = writeln!(out, "| # | patch | status | introduced | fixed |");
    let _ = writeln!(out, "|--:|---|---|--:|--:|");
    for p in &r.patches {
        let (i, f) = match p.result {
            PatchResult::Applied => (p.introduced.len().to_string(), p.fixed.len().to_string()),
            _ => ("–".into(), "–".into()),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            p.index,
            md_escape(&p.subject),
            status_word(&p.result),
            i,
            f
        );
    }
    for p in &r.patches {
        if p.introduced.is_empty()
            && p.fixed.is_empty()
            && !matches!(p.result, PatchResult::Failed { .. })
        {
            continue;
        }
        let _ = writeln!(out, "\n#### {}. {}\n", p.index, md_escape(&p.subject));
        if let PatchResult::Failed { error, .. } = &p.result {
            let _ = writeln!(out, "Does not apply:\n\n```\n{error}\n```");
        }
        for f in &p.introduced {
            let _ = writeln!(
                out,
                "- **introduced** `{}` {}:{}: {}",
                f.code,
                f.file,
                f.line,
                md_escape(&f.message)
            );
            if f.call_path.len() > 1 {
                let _ = writeln!(out, "  - call path: `{}`", f.call_path.join(" → "));
            }
        }
        for f in &p.fixed {
            let _ = writeln!(
                out,
                "- fixed `{}` {}: {}",
                f.code,
                f.file,
                md_escape(&f.message)
            );
        }
    }
    out
}
