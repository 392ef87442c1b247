//! Output of `mmstall diff` and `mmstall series`: text, JSON, SARIF (diff:
//! the introduced findings only) and Markdown (series, for a CI comment).

use std::collections::HashMap;
use std::fmt::Write;

use mmstall_analyzer::printers::sites;
use mmstall_analyzer::{printers, Finding};

use crate::series::{PatchReport, PatchResult, SeriesReport};
use crate::workspace::DiffReport;

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// How a finding stands between two trees; printed after the rule code, so
/// that every finding line starts with `file:line:col:` as a compiler's does
/// (vim's quickfix, editors and CI problem matchers read it).
#[derive(Clone, Copy)]
enum Status {
    Introduced,
    Fixed,
    Unchanged,
    IntroducedBy(usize),
    FixedBy(usize),
}

impl Status {
    fn word(self) -> String {
        match self {
            Status::Introduced => "introduced".into(),
            Status::Fixed => "fixed".into(),
            Status::Unchanged => "unchanged".into(),
            Status::IntroducedBy(n) => format!("introduced by patch {n}"),
            Status::FixedBy(n) => format!("fixed by patch {n}"),
        }
    }

    /// Introduced findings keep their severity; fixed and unchanged ones are
    /// notes, so a matcher that flags `warning`/`error` lines flags only
    /// what a change introduced.
    fn severity(self, f: &Finding) -> &'static str {
        match self {
            Status::Introduced | Status::IntroducedBy(_) => f.severity.as_str(),
            _ => "note",
        }
    }
}

/// The `file:line:col: severity[CODE]: status: message` line of a finding
/// (`message`: the finding's, or its site's).
fn head_line(status: Status, f: &Finding, message: &str) -> String {
    format!(
        "{}:{}:{}: {}[{}]: {}: {}",
        f.file,
        f.line,
        f.column,
        status.severity(f),
        f.code,
        status.word(),
        message
    )
}

/// Findings as rustc-like blocks, one per long-call site as `lint` prints
/// them: the head line with its status, then the analyzer's block (the
/// source line when known, from `sources`: the files of the tree the
/// findings are located in; each holder path's notes and triggers), indented.
fn site_blocks(
    out: &mut String,
    status: Status,
    findings: &[Finding],
    sources: &HashMap<String, String>,
) {
    let names = sites::HolderNames::new(findings);
    for site in sites::group(findings) {
        let f = site.first();
        let _ = writeln!(out, "{}", head_line(status, f, &site.message()));
        printers::text::write_site_body(
            out,
            &site,
            &names,
            sources.get(&f.file).map(String::as_str),
            &printers::text::NESTED,
        );
    }
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
    let _ = writeln!(out, "\nintroduced ({}):", sites::counts(&d.introduced));
    site_blocks(&mut out, Status::Introduced, &d.introduced, &r.new.sources);
    let _ = writeln!(out, "\nfixed ({}):", sites::counts(&d.fixed));
    site_blocks(&mut out, Status::Fixed, &d.fixed, &r.old.sources);
    let _ = writeln!(out, "\nunchanged ({}):", sites::counts(&d.unchanged));
    for site in sites::group(&d.unchanged) {
        let f = site.first();
        let _ = writeln!(out, "{}", head_line(Status::Unchanged, f, &site.message()));
    }
    for s in &r.new.report.skipped {
        let _ = writeln!(out, "skipped ({}): {}: {}", r.new_rev, s.file, s.reason);
    }
    let rerouted = match d.path_changed {
        0 => String::new(),
        n => format!(" ({n} reached by another call path)"),
    };
    let _ = writeln!(
        out,
        "\n{} introduced, {} fixed, {} unchanged{rerouted}",
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
        "path_changed": r.diff.path_changed,
        "skipped": r.new.report.skipped,
    });
    serde_json::to_string_pretty(&v).expect("a report serializes") + "\n"
}

/// SARIF 2.1.0 of the introduced findings only (what a code-scanning upload
/// for a branch should flag).
pub fn diff_sarif(r: &DiffReport) -> String {
    printers::sarif::render(&r.diff.introduced)
}

/// SARIF 2.1.0 of the findings the series introduces (base against the
/// tree after the last applied patch, located there), as `diff`'s: each
/// result names, in its properties, the patch that introduced it.
pub fn series_sarif(r: &SeriesReport) -> String {
    let sarif = printers::sarif::render(&r.net.introduced);
    let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(&sarif) else {
        return sarif;
    };
    if let Some(results) = doc["runs"][0]["results"].as_array_mut() {
        // The printer writes one result per site, in the order of
        // `sites::group`; a site's patch is its first holder path's.
        let grouped = sites::group(&r.net.introduced);
        for (result, site) in results.iter_mut().zip(&grouped) {
            if let Some(p) = introducing_patch(r, site.first()) {
                result["properties"]["patch"] = serde_json::json!({
                    "index": p.index,
                    "subject": p.subject,
                });
            }
        }
    }
    serde_json::to_string_pretty(&doc).expect("a report serializes") + "\n"
}

/// The last applied patch that introduced `f` (by fingerprint): a finding
/// introduced, fixed and introduced again is credited to the last one.
fn introducing_patch<'a>(r: &'a SeriesReport, f: &Finding) -> Option<&'a PatchReport> {
    r.patches
        .iter()
        .rev()
        .find(|p| p.introduced.iter().any(|i| i.fingerprint == f.fingerprint))
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
        let no_sources = HashMap::new();
        let (before, after) = match &p.trees {
            Some((before, after)) => (&before.sources, &after.sources),
            None => (&no_sources, &no_sources),
        };
        site_blocks(
            &mut out,
            Status::IntroducedBy(p.index),
            &p.introduced,
            after,
        );
        site_blocks(&mut out, Status::FixedBy(p.index), &p.fixed, before);
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
        let names = sites::HolderNames::new(&p.introduced);
        for site in sites::group(&p.introduced) {
            let f = site.first();
            let _ = writeln!(
                out,
                "- **introduced** `{}` {}:{}: {}",
                f.code,
                f.file,
                f.line,
                md_escape(&site.message())
            );
            for h in &site.holders {
                let prefix = if site.holders.len() > 1 {
                    let _ = writeln!(out, "  - holder {}", md_escape(&names.label(h)));
                    "    "
                } else {
                    "  "
                };
                let _ = writeln!(out, "{prefix}- {}", md_escape(&h.lock_origin()));
                if h.call_path.len() > 1 {
                    let _ = writeln!(out, "{prefix}- call path: `{}`", h.call_path.join(" → "));
                }
                if let Some(triggers) = sites::triggers_text(h) {
                    let _ = writeln!(out, "{prefix}- reached from {}", md_escape(&triggers));
                }
            }
        }
        for site in sites::group(&p.fixed) {
            let f = site.first();
            let _ = writeln!(
                out,
                "- fixed `{}` {}: {}",
                f.code,
                f.file,
                md_escape(&site.message())
            );
        }
    }
    out
}
