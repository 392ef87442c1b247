//! The static analyzer as a diff over a regression series: the findings the
//! series introduces into the touched top-level directories (e.g. `mm/`) of
//! the tree. A series whose manifest entry names an `analyzer_rule` must
//! produce a new finding of that rule.
//!
//! One way to compute what a series introduces, shared with `mmstall series`
//! and the nightly: the touched directories are committed into a scratch git
//! repository (`git --work-tree`: the tree itself is never written) and
//! `LINT series --repo ... --format json` (the `mmstall` binary, the revisions
//! crate in-process) applies the series onto in-memory trees and matches the
//! findings by fingerprint; its `net` diff is the check. So this module does
//! not depend on the analyzer crate.

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

/// `git ARGS`: its stdout, or the first line of its error.
fn git(args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .args(args)
        .output()
        .map_err(|e| format!("running git: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "git {}: {}",
            args.iter().find(|a| !a.starts_with('-')).unwrap_or(&""),
            err.lines().next().unwrap_or("failed")
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Commits `dirs` of `origin` into a new bare repository `repo` (objects
/// only: `origin` is read, never written). Everything is added, ignored files
/// too, as the directories were copied before (Debian's tree ignores `/*`).
fn import_dirs(origin: &Path, dirs: &BTreeSet<String>, repo: &Path) -> Result<(), String> {
    let (r, o) = (repo.display().to_string(), origin.display().to_string());
    git(&["init", "--quiet", "--bare", &r])?;
    let mut add = vec!["--git-dir", &r, "--work-tree", &o, "add", "--force", "--"];
    add.extend(dirs.iter().map(String::as_str));
    git(&add)?;
    git(&[
        "--git-dir",
        &r,
        "--work-tree",
        &o,
        "-c",
        "user.name=mmstall",
        "-c",
        "user.email=mmstall@localhost",
        "commit",
        "--quiet",
        "-m",
        "mmstall validate: the unpatched tree",
    ])?;
    Ok(())
}

/// `mmstall series --format json`: the parts this check reads.
#[derive(Deserialize)]
struct SeriesOut {
    patches: Vec<SeriesPatch>,
    net: SeriesNet,
}

#[derive(Deserialize)]
struct SeriesPatch {
    index: usize,
    subject: String,
    status: String,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct SeriesNet {
    introduced: Vec<SeriesFinding>,
    fixed: Vec<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct SeriesFinding {
    code: String,
    file: String,
    line: u64,
    function: String,
    holder: String,
}

/// The series over `dirs` of the scratch repository: its report, or why it
/// could not run.
fn series(
    bin: &Path,
    repo: &Path,
    series_path: &Path,
    dirs: &BTreeSet<String>,
) -> Result<SeriesOut, String> {
    let out = Command::new(bin)
        .arg("series")
        .arg("--repo")
        .arg(repo)
        .args(["--base", "HEAD", "--format", "json"])
        .arg(series_path)
        .args(dirs)
        .output()
        .map_err(|e| format!("running {} series: {e}", bin.display()))?;
    // 0: nothing new, 1: new findings, 3: a patch did not apply (the report
    // says which); anything else is an error.
    if !matches!(out.status.code(), Some(0) | Some(1) | Some(3)) {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{} series {} --format json: {}",
            bin.display(),
            series_path.display(),
            err.lines().next().unwrap_or("failed")
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{} series output: {e}", bin.display()))
}

/// Compares findings before and after the series (by fingerprint, each
/// counted once). [`check`] takes the series' `net` diff from `mmstall
/// series` instead, which gave the same findings on every regression series.
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
    let repo = work.join("tree.git");
    if let Err(e) = import_dirs(origin, &dirs, &repo) {
        return unavailable(format!("importing {}: {e}", origin.display()));
    }
    let report = match series(lint_bin, &repo, series_path, &dirs) {
        Ok(r) => r,
        Err(e) => return unavailable(e),
    };
    // The first patch that did not apply, worded as when the series was
    // applied to a copy of the directories.
    let total = loaded.series.patches.len();
    if let Some(p) = report.patches.iter().find(|p| p.status == "failed") {
        return unavailable(format!(
            "series {name}: patch {}/{total} does not apply: patch {} {:?}: {}",
            p.index,
            p.index,
            p.subject,
            p.error.as_deref().unwrap_or("")
        ));
    }
    let _ = std::fs::remove_dir_all(work);
    let new: Vec<NewFinding> = report
        .net
        .introduced
        .into_iter()
        .map(|f| NewFinding {
            code: f.code,
            file: f.file,
            line: f.line,
            function: f.function,
            holder: f.holder,
        })
        .collect();
    let gone = report.net.fixed.len();
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
