//! Snapshot files: findings in a stable, sorted, line-insensitive text form
//! meant for code review (a reviewer reads the snapshot's diff in a pull
//! request), and the check of a stored snapshot against a run.
//!
//! Line numbers are left out on purpose (code moving does not change the
//! snapshot); each finding is a block of lines keyed by file, function, rule
//! and holder, so a diff shows exactly which finding came or went.

use std::fmt::Write;

use mmstall_analyzer::Finding;

pub const HEADER: &str = "# mmstall findings snapshot, format 1: sorted, without line numbers.\n# Regenerate with `mmstall snapshot ... --accept`.\n";

/// The snapshot text of a set of findings (any order in, one order out).
pub fn render(findings: &[Finding]) -> String {
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted.sort_by(|a, b| key(a).cmp(&key(b)));
    let mut out = String::from(HEADER);
    let _ = writeln!(
        out,
        "# {} finding{}",
        sorted.len(),
        if sorted.len() == 1 { "" } else { "s" }
    );
    for f in sorted {
        out.push('\n');
        let _ = writeln!(
            out,
            "{} {} {} in `{}`, held by `{}`",
            f.code, f.rule, f.file, f.function, f.holder
        );
        let _ = writeln!(out, "  {}", f.message);
        let _ = writeln!(out, "  call: {}", f.call_text);
        let _ = writeln!(
            out,
            "  lock taken in: {} (`{}`)",
            f.acquired_at.file, f.holder
        );
        if f.call_path.len() > 1 {
            let _ = writeln!(out, "  call path: {}", f.call_path.join(" → "));
        }
        if !f.context.is_empty() {
            let _ = writeln!(out, "  constant arguments: {}", f.context.join(", "));
        }
        let _ = writeln!(out, "  fingerprint: {}", f.fingerprint);
    }
    out
}

fn key(f: &Finding) -> (&str, &str, &str, &str, &str, &str) {
    (
        &f.file,
        &f.function,
        f.code,
        &f.holder,
        &f.call_text,
        &f.fingerprint,
    )
}

/// The outcome of checking a stored snapshot.
#[derive(Debug, PartialEq, Eq)]
pub enum Check {
    Same,
    /// A unified diff from the stored text to the current one.
    Changed(String),
}

/// Compares a stored snapshot (`None`: no file yet) with the current text.
pub fn check(stored_name: &str, stored: Option<&str>, current: &str) -> Check {
    let old = stored.unwrap_or("");
    if stored.is_some() && old == current {
        return Check::Same;
    }
    let diff = similar::TextDiff::from_lines(old, current);
    let mut out = String::new();
    let stored_label = if stored.is_some() {
        format!("{stored_name} (stored)")
    } else {
        format!("{stored_name} (missing)")
    };
    let _ = write!(
        out,
        "{}",
        diff.unified_diff()
            .context_radius(3)
            .header(&stored_label, "current findings")
    );
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Check::Changed(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_snapshot_is_a_change_and_equal_text_is_not() {
        let current = render(&[]);
        assert_eq!(check("x.snap", Some(&current), &current), Check::Same);
        match check("x.snap", None, &current) {
            Check::Changed(d) => assert!(
                d.contains("x.snap (missing)") && d.contains("+# 0 findings"),
                "{d}"
            ),
            Check::Same => panic!("a missing file is a change"),
        }
    }
}
