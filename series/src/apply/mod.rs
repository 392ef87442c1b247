//! Applying patches. A patch is first planned entirely in memory (every file
//! read, every hunk applied); only when all of it applies is anything
//! written. So a patch that fails leaves the directory or tree as it was.

mod dir;
mod hunks;
mod tree;

use std::collections::BTreeMap;

pub use dir::{apply_series_to_dir, apply_to_dir, apply_to_dir_reporting_offsets};
pub use tree::{apply_series_to_tree, apply_to_tree, apply_to_tree_reporting_offsets};

use crate::error::{ApplyError, ApplyFailure};
use crate::model::{ChangeKind, FileContent, FilePatch, Patch};

pub(crate) const MODE_FILE: u32 = 0o100644;
pub(crate) const MODE_EXECUTABLE: u32 = 0o100755;
pub(crate) const MODE_SYMLINK: u32 = 0o120000;

/// How to apply a series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Skip a patch that does not apply and go on with the next one (onto
    /// the state before the failed patch). Without it, the first failure
    /// stops the run and the remaining patches are not attempted.
    pub keep_going: bool,
}

/// What happened to one patch of a series.
#[derive(Debug)]
pub enum PatchStatus {
    Applied,
    Failed(ApplyError),
    /// An earlier patch failed and `keep_going` was off.
    NotAttempted,
}

/// The outcome of one patch when applying a series.
#[derive(Debug)]
pub struct PatchOutcome {
    /// 1-based position in the series.
    pub index: usize,
    pub subject: String,
    pub status: PatchStatus,
    /// For a git tree: the tree the patch was applied onto…
    pub tree_before: Option<git2::Oid>,
    /// …and the tree it produced (`None` unless applied).
    pub tree_after: Option<git2::Oid>,
    /// Hunks that applied at an offset (empty unless applied).
    pub offsets: Vec<HunkOffset>,
}

/// The outcomes of a whole series, in series order.
#[derive(Debug)]
pub struct SeriesApplication {
    pub outcomes: Vec<PatchOutcome>,
    /// For a git tree: the tree after the last applied patch (the base tree
    /// when none applied).
    pub final_tree: Option<git2::Oid>,
}

impl SeriesApplication {
    pub fn all_applied(&self) -> bool {
        self.outcomes
            .iter()
            .all(|o| matches!(o.status, PatchStatus::Applied))
    }

    pub fn failures(&self) -> impl Iterator<Item = &ApplyError> {
        self.outcomes.iter().filter_map(|o| match &o.status {
            PatchStatus::Failed(error) => Some(error),
            _ => None,
        })
    }
}

/// A file as it exists before a patch: content (for a symlink, its target)
/// and git mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExistingFile {
    pub content: Vec<u8>,
    pub mode: u32,
}

/// The state a patch leaves each touched path in (`None`: removed), sorted
/// by path so writes happen in a deterministic order.
pub(crate) type Plan = BTreeMap<String, Option<ExistingFile>>;

/// A hunk that applied at an offset from the line it names, as `git apply`
/// reports "Hunk #1 succeeded at 15 (offset 4 lines)": a sign the base is
/// not the tree the patch was made on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HunkOffset {
    pub file: String,
    /// 1-based hunk number within the file.
    pub hunk: usize,
    pub header: String,
    /// 1-based line where the hunk landed in the patched file.
    pub line: usize,
    /// Lines away from the stated position (positive: further down).
    pub offset: i64,
}

impl std::fmt::Display for HunkOffset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lines = if self.offset.abs() == 1 {
            "line"
        } else {
            "lines"
        };
        write!(
            f,
            "{}: hunk #{} applied at line {} (offset {} {lines})",
            self.file, self.hunk, self.line, self.offset
        )
    }
}

/// Where the files come from: a directory or a git tree.
pub(crate) trait FileSource {
    fn read(&self, path: &str) -> Result<Option<ExistingFile>, ApplyFailure>;
}

pub(crate) fn apply_error(patch: &Patch, file: Option<&str>, reason: ApplyFailure) -> ApplyError {
    ApplyError {
        patch_index: patch.index,
        subject: patch.subject.clone(),
        file: file.map(str::to_string),
        reason,
    }
}

/// A path from a patch that may be written under a root: relative, no
/// `..`, `.` or empty components, nothing inside `.git`.
pub(crate) fn check_path(path: &str) -> Result<(), ApplyFailure> {
    let unsafe_component = |component: &str| {
        component.is_empty()
            || component == "."
            || component == ".."
            || component.eq_ignore_ascii_case(".git")
    };
    if path.is_empty()
        || path.starts_with('/')
        || path.contains('\0')
        || path.split('/').any(unsafe_component)
    {
        return Err(ApplyFailure::UnsafePath(path.to_string()));
    }
    Ok(())
}

fn check_mode(mode: u32) -> Result<u32, ApplyFailure> {
    match mode {
        MODE_FILE | MODE_EXECUTABLE | MODE_SYMLINK => Ok(mode),
        // Old git wrote group-writable modes; git itself reads them as 644.
        0o100664 => Ok(MODE_FILE),
        other => Err(ApplyFailure::UnsupportedMode(other)),
    }
}

/// Computes what `patch` does to every path it touches, reading the current
/// files from `source`. Nothing is written. Hunks that needed an offset are
/// added to `offsets`.
pub(crate) fn plan_patch(
    patch: &Patch,
    source: &dyn FileSource,
    offsets: &mut Vec<HunkOffset>,
) -> Result<Plan, ApplyError> {
    let mut plan = Plan::new();
    for file in &patch.files {
        let name = file.display_path();
        let fail = |reason| apply_error(patch, Some(name), reason);
        for path in [&file.old_path, &file.new_path].into_iter().flatten() {
            check_path(path).map_err(fail)?;
        }
        if let Some(mode) = file.new_mode {
            check_mode(mode).map_err(fail)?;
        }
        if file.content == FileContent::Binary {
            return Err(fail(ApplyFailure::Binary));
        }
        // Earlier files of the same patch count (a rename frees its old
        // path for a new file), otherwise the source is the truth.
        let lookup = |plan: &Plan, path: &str| -> Result<Option<ExistingFile>, ApplyError> {
            match plan.get(path) {
                Some(state) => Ok(state.clone()),
                None => source.read(path).map_err(fail),
            }
        };
        match (file.kind, &file.old_path, &file.new_path) {
            (ChangeKind::Create, _, Some(new_path)) => {
                let content = apply_file_hunks(patch, file, b"", None, offsets)?;
                if let Some(existing) = lookup(&plan, new_path)? {
                    return Err(fail(ApplyFailure::FileExists {
                        same_content: existing.content == content,
                    }));
                }
                let mode = check_mode(file.new_mode.unwrap_or(MODE_FILE)).map_err(fail)?;
                plan.insert(new_path.clone(), Some(ExistingFile { content, mode }));
            }
            (ChangeKind::Delete, Some(old_path), _) => {
                let existing = lookup(&plan, old_path)?.ok_or_else(|| {
                    fail(ApplyFailure::FileMissing {
                        deleting: true,
                        already_applied: false,
                    })
                })?;
                let remaining =
                    apply_file_hunks(patch, file, &existing.content, Some(&existing), offsets)?;
                if !remaining.is_empty() {
                    return Err(fail(ApplyFailure::DeleteLeavesContent));
                }
                plan.insert(old_path.clone(), None);
            }
            (
                ChangeKind::Modify | ChangeKind::Rename | ChangeKind::Copy,
                Some(old_path),
                Some(new_path),
            ) => {
                let Some(existing) = lookup(&plan, old_path)? else {
                    // A rename whose target holds the result is in already.
                    let already_applied = file.kind == ChangeKind::Rename
                        && lookup(&plan, new_path)?.is_some_and(|target| {
                            hunks::apply_hunks(&target.content, file.content.hunks(), true).is_ok()
                        });
                    return Err(apply_error(
                        patch,
                        Some(old_path),
                        ApplyFailure::FileMissing {
                            deleting: false,
                            already_applied,
                        },
                    ));
                };
                let content =
                    apply_file_hunks(patch, file, &existing.content, Some(&existing), offsets)?;
                if old_path != new_path {
                    if let Some(target) = lookup(&plan, new_path)? {
                        return Err(fail(ApplyFailure::FileExists {
                            same_content: target.content == content,
                        }));
                    }
                    if file.kind == ChangeKind::Rename {
                        plan.insert(old_path.clone(), None);
                    }
                }
                let mode = match (file.old_mode, file.new_mode) {
                    // Only an explicit mode change overrides the file's mode.
                    (Some(old), Some(new)) if old != new => check_mode(new).map_err(fail)?,
                    _ => existing.mode,
                };
                plan.insert(new_path.clone(), Some(ExistingFile { content, mode }));
            }
            // The parser never produces these, but a FilePatch built by hand
            // can: refuse rather than guess.
            (kind, _, _) => return Err(fail(ApplyFailure::MissingPath(kind))),
        }
    }
    Ok(plan)
}

/// Applies the hunks of `file` to `content`, and on failure says whether the
/// hunks apply in reverse (the patch is already in).
fn apply_file_hunks(
    patch: &Patch,
    file: &FilePatch,
    content: &[u8],
    existing: Option<&ExistingFile>,
    offsets: &mut Vec<HunkOffset>,
) -> Result<Vec<u8>, ApplyError> {
    let hunks = file.content.hunks();
    match hunks::apply_hunks(content, hunks, false) {
        Ok(applied) => {
            offsets.extend(applied.moved.into_iter().map(|moved| {
                HunkOffset {
                    file: file.display_path().to_string(),
                    hunk: moved.hunk_index + 1,
                    header: hunks
                        .get(moved.hunk_index)
                        .map(|h| h.header())
                        .unwrap_or_default(),
                    line: moved.line,
                    offset: moved.offset,
                }
            }));
            Ok(applied.content)
        }
        Err(mismatch) => {
            let already_applied =
                existing.is_some() && hunks::apply_hunks(content, hunks, true).is_ok();
            let header = hunks
                .get(mismatch.hunk_index)
                .map(|h| h.header())
                .unwrap_or_default();
            Err(apply_error(
                patch,
                Some(file.display_path()),
                ApplyFailure::HunkMismatch {
                    hunk: mismatch.hunk_index + 1,
                    header,
                    expected_line: mismatch.expected_line,
                    expected_text: mismatch.expected_text,
                    found_text: mismatch.found_text,
                    already_applied,
                },
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_paths() {
        for path in [
            "",
            "/etc/passwd",
            "a/../b",
            "./a",
            "a//b",
            ".git/config",
            "x/.GIT/y",
            "a/",
        ] {
            assert!(check_path(path).is_err(), "{path:?} accepted");
        }
        for path in ["mm/mmap.c", "a..b/c", ".gitignore", "include/linux/mm.h"] {
            assert!(check_path(path).is_ok(), "{path:?} refused");
        }
    }
}
