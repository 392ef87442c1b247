//! `mmstall series`: a patch series applied patch by patch onto in-memory
//! trees (objects only: work tree, index, HEAD and refs untouched), the base
//! and every patched tree analyzed, and each patch credited with the findings
//! it introduced and fixed.

use std::sync::Arc;

use git2::Oid;
use mmstall_analyzer::source::Skipped;
use mmstall_analyzer::Finding;
use mmstall_series::{apply_series_to_tree, ApplyFailure, ApplyOptions, PatchStatus, Series};
use serde::Serialize;

use crate::compare::{compare, FindingsDiff};
use crate::error::RevisionsError;
use crate::workspace::{changed_files, ser_oid, union_of_skipped, Analysis, Timing, Workspace};

/// What happened to one patch.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PatchResult {
    Applied,
    /// Did not apply: the file and hunk named when known, and git-apply-like
    /// detail in `error`.
    Failed {
        file: Option<String>,
        hunk: Option<usize>,
        error: String,
    },
    /// An earlier patch failed and `--keep-going` was off.
    NotAttempted,
}

#[derive(Debug, Serialize)]
pub struct PatchReport {
    /// 1-based position in the series.
    pub index: usize,
    pub subject: String,
    #[serde(flatten)]
    pub result: PatchResult,
    /// Hunks that applied at an offset (a hint that the base differs from the
    /// tree the series was written against).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub offsets: Vec<String>,
    /// Analyzed files this patch changed.
    pub changed_files: Vec<String>,
    pub introduced: Vec<Finding>,
    pub fixed: Vec<Finding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timing: Option<Timing>,
    /// The analyses of the tree the patch applied onto and of the tree it
    /// produced (applied patches only): a fixed finding is shown with the
    /// source before the patch, an introduced one with the source after it,
    /// never with a later patch's lines.
    #[serde(skip)]
    pub trees: Option<(Arc<Analysis>, Arc<Analysis>)>,
}

#[derive(Debug, Serialize)]
pub struct SeriesReport {
    pub series: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cover: Option<String>,
    pub base_rev: String,
    #[serde(serialize_with = "ser_oid")]
    pub base_tree: Oid,
    pub paths: Vec<String>,
    pub keep_going: bool,
    pub patches: Vec<PatchReport>,
    /// Base against the tree after the last applied patch.
    pub net: FindingsDiff,
    /// Load warnings (a missing patch of a numbered series) and ignored mails.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Files left out of any analyzed tree (binary, not UTF-8, blob missing),
    /// each once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
    /// The missing blobs and trees among them: a repository problem
    /// (partial clone).
    #[serde(skip)]
    pub missing_blobs: Vec<Skipped>,
    #[serde(skip)]
    pub base: Arc<Analysis>,
    #[serde(skip)]
    pub last: Arc<Analysis>,
}

impl SeriesReport {
    pub fn failed(&self) -> usize {
        self.patches
            .iter()
            .filter(|p| matches!(p.result, PatchResult::Failed { .. }))
            .count()
    }

    pub fn applied(&self) -> usize {
        self.patches
            .iter()
            .filter(|p| matches!(p.result, PatchResult::Applied))
            .count()
    }

    /// 1: the series leaves findings the base did not have; 3: it introduces
    /// none but a patch did not apply (the verdict is incomplete); 0 otherwise.
    pub fn exit_code(&self) -> i32 {
        if !self.net.introduced.is_empty() {
            1
        } else if self.failed() > 0 {
            3
        } else {
            0
        }
    }
}

pub fn analyze_series(
    ws: &mut Workspace,
    base_rev: &str,
    series: &Series,
    keep_going: bool,
) -> Result<SeriesReport, RevisionsError> {
    let base_tree = ws.resolve(base_rev)?;
    let base = ws.analyze(base_tree)?;
    // Files a series creates may be the only ones under PATH: checked at the end.
    let application =
        apply_series_to_tree(ws.repo(), base_tree, series, ApplyOptions { keep_going });
    let mut patches = Vec::new();
    let mut last = base.clone();
    let mut analyzed = vec![base.clone()];
    for outcome in application.outcomes {
        let mut report = PatchReport {
            index: outcome.index,
            subject: outcome.subject.clone(),
            result: PatchResult::NotAttempted,
            offsets: outcome.offsets.iter().map(|o| o.to_string()).collect(),
            changed_files: Vec::new(),
            introduced: Vec::new(),
            fixed: Vec::new(),
            timing: None,
            trees: None,
        };
        match outcome.status {
            PatchStatus::Applied => {
                let (Some(before), Some(after)) = (outcome.tree_before, outcome.tree_after) else {
                    // Trees always carry both; a directory application has none.
                    report.result = PatchResult::Failed {
                        file: None,
                        hunk: None,
                        error: "applied without a resulting tree".into(),
                    };
                    patches.push(report);
                    continue;
                };
                let before = ws.analyze(before)?;
                let after = ws.analyze(after)?;
                let diff = compare(&before.report.findings, &after.report.findings);
                report.result = PatchResult::Applied;
                report.changed_files = changed_files(&before.files, &after.files);
                report.introduced = diff.introduced;
                report.fixed = diff.fixed;
                report.timing = Some(after.timing.clone());
                report.trees = Some((before, after.clone()));
                analyzed.push(after.clone());
                last = after;
            }
            PatchStatus::Failed(error) => {
                let hunk = match &error.reason {
                    ApplyFailure::HunkMismatch { hunk, .. } => Some(*hunk),
                    _ => None,
                };
                // The patch is named by the report already: file and reason.
                let detail = match &error.file {
                    Some(f) => format!("{f}: {}", error.reason),
                    None => error.reason.to_string(),
                };
                report.result = PatchResult::Failed {
                    file: error.file.clone(),
                    hunk,
                    error: detail,
                };
            }
            PatchStatus::NotAttempted => {}
        }
        patches.push(report);
    }
    ws.check_selected(&[(base_rev, &base), ("the patched tree", &last)])?;
    let net = compare(&base.report.findings, &last.report.findings);
    let mut warnings = series.warnings.clone();
    warnings.extend(
        series
            .ignored
            .iter()
            .map(|i| format!("{}: ignored \"{}\": {}", i.source, i.subject, i.reason)),
    );
    let skipped = union_of_skipped(analyzed.iter().map(|a| &a.report.skipped));
    let missing_blobs = union_of_skipped(analyzed.iter().map(|a| &a.missing));
    Ok(SeriesReport {
        series: series.source.display().to_string(),
        cover: series.cover.as_ref().map(|c| c.subject.clone()),
        base_rev: base_rev.to_string(),
        base_tree,
        paths: ws.filter().prefixes().to_vec(),
        keep_going,
        patches,
        net,
        warnings,
        skipped,
        missing_blobs,
        base,
        last,
    })
}
