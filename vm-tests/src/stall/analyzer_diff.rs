//! The static analyzer as a diff over a regression series: lint the touched
//! top-level directories (e.g. `mm/`) of the tree before and after applying
//! the series, and report the findings that are new. A series whose manifest
//! entry names an `analyzer_rule` must produce a new finding of that rule.
//!
//! The analyzer runs as `LINT lint DIR --format json` (the `mmstall` binary),
//! so this module does not depend on the analyzer crate.

use crate::patches;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewFinding {
    pub code: String,
    pub file: String,
    pub line: u64,
    pub function: String,
    pub holder: String,
}

impl NewFinding {
    pub fn describe(&self) -> String {
        format!(
            "{} {}:{} in {} (lock held by {})",
            self.code, self.file, self.line, self.function, self.holder
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum AnalyzerStatus {
    /// A new finding of the expected rule.
    Found,
    /// No new finding of the expected rule.
    Missing,
    /// The analyzer could not run (the reason says why); not a verdict.
    Unavailable { reason: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalyzerCheck {
    pub series: String,
    pub rule: String,
    pub status: AnalyzerStatus,
    pub new: Vec<NewFinding>,
    pub gone: usize,
}

/// Top-level directories the series' patches touch (`+++ b/mm/vma.c` → `mm`).
pub fn touched_dirs(series_path: &Path) -> Result<BTreeSet<String>, String> {
    let files: Vec<PathBuf> = if series_path.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(series_path)
            .map_err(|e| format!("{}: {e}", series_path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "patch" || x == "diff"))
            .collect();
        v.sort();
        v
    } else {
        vec![series_path.to_path_buf()]
    };
    let mut dirs = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        for l in text.lines() {
            if let Some(p) = l.strip_prefix("+++ b/") {
                let p = p.split('\t').next().unwrap_or(p);
                if let Some((top, _)) = p.split_once('/') {
                    if !top.is_empty() && top != ".." && top != "." {
                        dirs.insert(top.to_string());
                    }
                }
            }
        }
    }
    Ok(dirs)
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let t = e.file_type()?;
        let dst = to.join(e.file_name());
        if t.is_dir() {
            copy_dir(&e.path(), &dst)?;
        } else if t.is_file() {
            std::fs::copy(e.path(), &dst)?;
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct LintOut {
    findings: Vec<LintFinding>,
}

#[derive(Deserialize)]
struct LintFinding {
    code: String,
    file: String,
    line: u64,
    function: String,
    holder: String,
    fingerprint: String,
}

fn lint(bin: &Path, dir: &Path) -> Result<Vec<LintFinding>, String> {
    let out = Command::new(bin)
        .arg("lint")
        .arg(dir)
        .args(["--format", "json"])
        .output()
        .map_err(|e| format!("running {} lint: {e}", bin.display()))?;
    // Exit 0: no findings, 1: findings; anything else is an error.
    if !matches!(out.status.code(), Some(0) | Some(1)) {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{} lint {} --format json: {}",
            bin.display(),
            dir.display(),
            err.lines().next().unwrap_or("failed")
        ));
    }
    let o: LintOut = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("{} lint output: {e}", bin.display()))?;
    Ok(o.findings)
}

/// Compares findings before and after the series (by fingerprint).
pub fn new_findings(
    before: &[(String, NewFinding)],
    after: &[(String, NewFinding)],
) -> (Vec<NewFinding>, usize) {
    let b: BTreeSet<&str> = before.iter().map(|(f, _)| f.as_str()).collect();
    let a: BTreeSet<&str> = after.iter().map(|(f, _)| f.as_str()).collect();
    let new = after
        .iter()
        .filter(|(f, _)| !b.contains(f.as_str()))
        .map(|(_, n)| n.clone())
        .collect();
    let gone = before
        .iter()
        .filter(|(f, _)| !a.contains(f.as_str()))
        .count();
    (new, gone)
}

/// Runs the check for one series. `origin` is the unpatched tree (never written).
pub fn check(
    name: &str,
    rule: &str,
    series_path: &Path,
    origin: &Path,
    lint_bin: &Path,
    work: &Path,
) -> AnalyzerCheck {
    let unavailable = |reason: String| AnalyzerCheck {
        series: name.to_string(),
        rule: rule.to_string(),
        status: AnalyzerStatus::Unavailable { reason },
        new: vec![],
        gone: 0,
    };
    let dirs = match touched_dirs(series_path) {
        Ok(d) if !d.is_empty() => d,
        Ok(_) => {
            return unavailable(format!(
                "series {name}: no file under a directory in {}",
                series_path.display()
            ))
        }
        Err(e) => return unavailable(format!("series {name}: {e}")),
    };
    let loaded = match patches::load(series_path) {
        Ok(l) => l,
        Err(e) => return unavailable(format!("series {name}: {e}")),
    };
    let _ = std::fs::remove_dir_all(work);
    let (a, b) = (work.join("a"), work.join("b"));
    for d in &dirs {
        for root in [&a, &b] {
            if let Err(e) = copy_dir(&origin.join(d), &root.join(d)) {
                return unavailable(format!("copying {}: {e}", origin.join(d).display()));
            }
        }
    }
    if let Err(e) = patches::apply_all(&loaded, &b) {
        return unavailable(format!("series {name}: {e}"));
    }
    let mut before = Vec::new();
    let mut after = Vec::new();
    for d in &dirs {
        for (root, acc) in [(&a, &mut before), (&b, &mut after)] {
            match lint(lint_bin, &root.join(d)) {
                Ok(f) => acc.extend(f.into_iter().map(|f| {
                    (
                        f.fingerprint,
                        NewFinding {
                            code: f.code,
                            file: format!("{d}/{}", f.file),
                            line: f.line,
                            function: f.function,
                            holder: f.holder,
                        },
                    )
                })),
                Err(e) => return unavailable(e),
            }
        }
    }
    let _ = std::fs::remove_dir_all(work);
    let (new, gone) = new_findings(&before, &after);
    let status = if new.iter().any(|n| n.code == rule) {
        AnalyzerStatus::Found
    } else {
        AnalyzerStatus::Missing
    };
    AnalyzerCheck {
        series: name.to_string(),
        rule: rule.to_string(),
        status,
        new,
        gone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nf(code: &str, line: u64) -> NewFinding {
        NewFinding {
            code: code.into(),
            file: "mm/vma.c".into(),
            line,
            function: "f".into(),
            holder: "h".into(),
        }
    }

    #[test]
    fn new_and_gone_by_fingerprint() {
        let before = vec![
            ("x".to_string(), nf("MMS002", 10)),
            ("y".to_string(), nf("MMS003", 20)),
        ];
        let after = vec![
            ("x".to_string(), nf("MMS002", 12)),
            ("z".to_string(), nf("MMS001", 30)),
        ];
        let (new, gone) = new_findings(&before, &after);
        assert_eq!(new, vec![nf("MMS001", 30)]);
        assert_eq!(gone, 1);
        assert_eq!(
            nf("MMS001", 30).describe(),
            "MMS001 mm/vma.c:30 in f (lock held by h)"
        );
    }

    #[test]
    fn touched_directories_of_the_repository_series() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../patches/munmap-zap-under-write");
        assert_eq!(
            touched_dirs(&p).unwrap().into_iter().collect::<Vec<_>>(),
            ["mm"]
        );
        assert!(touched_dirs(Path::new("/nonexistent/series"))
            .unwrap_err()
            .contains("/nonexistent/series"));
    }

    #[test]
    fn unavailable_analyzer_is_reported_not_a_verdict() {
        let d = tempfile::tempdir().unwrap();
        let origin = d.path().join("tree");
        std::fs::create_dir_all(origin.join("mm")).unwrap();
        std::fs::write(origin.join("mm/a.c"), "int x;\n").unwrap();
        let series = d.path().join("s.patch");
        std::fs::write(&series, "Subject: [PATCH] t\n\n---\ndiff --git a/mm/a.c b/mm/a.c\n--- a/mm/a.c\n+++ b/mm/a.c\n@@ -1 +1 @@\n-int x;\n+int y;\n").unwrap();
        let c = check(
            "s",
            "MMS001",
            &series,
            &origin,
            Path::new("/nonexistent/mmstall"),
            &d.path().join("work"),
        );
        assert!(
            matches!(&c.status, AnalyzerStatus::Unavailable { reason } if reason.contains("/nonexistent/mmstall")),
            "{:?}",
            c.status
        );
        // The origin was not written.
        assert_eq!(
            std::fs::read_to_string(origin.join("mm/a.c")).unwrap(),
            "int x;\n"
        );
    }
}
