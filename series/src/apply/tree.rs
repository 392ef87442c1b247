//! Applying onto in-memory git trees: blobs are read from the object
//! database and new blobs/trees written to it. The work tree, the index,
//! HEAD and every ref are left alone.

use std::path::Path;

use git2::{build::TreeUpdateBuilder, ErrorCode, FileMode, ObjectType, Oid, Repository, Tree};

use super::{
    apply_error, plan_patch, ApplyOptions, ExistingFile, FileSource, HunkOffset, PatchOutcome,
    PatchStatus, SeriesApplication, MODE_EXECUTABLE, MODE_SYMLINK,
};
use crate::error::{ApplyError, ApplyFailure};
use crate::model::{Patch, Series};

struct TreeSource<'repo> {
    repo: &'repo Repository,
    tree: &'repo Tree<'repo>,
}

impl FileSource for TreeSource<'_> {
    fn read(&self, path: &str) -> Result<Option<ExistingFile>, ApplyFailure> {
        let entry = match self.tree.get_path(Path::new(path)) {
            Ok(entry) => entry,
            Err(error) if error.code() == ErrorCode::NotFound => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        if entry.kind() != Some(ObjectType::Blob) {
            return Err(ApplyFailure::NotAFile);
        }
        let blob = self.repo.find_blob(entry.id())?;
        Ok(Some(ExistingFile {
            content: blob.content().to_vec(),
            mode: u32::try_from(entry.filemode()).unwrap_or(super::MODE_FILE),
        }))
    }
}

/// Applies `patch` onto the tree `base_tree` of `repo` and returns the id of
/// the resulting tree. Only objects are written.
pub fn apply_to_tree(repo: &Repository, base_tree: Oid, patch: &Patch) -> Result<Oid, ApplyError> {
    apply_to_tree_reporting_offsets(repo, base_tree, patch).map(|(tree, _)| tree)
}

/// [`apply_to_tree`], also returning the hunks that needed an offset.
pub fn apply_to_tree_reporting_offsets(
    repo: &Repository,
    base_tree: Oid,
    patch: &Patch,
) -> Result<(Oid, Vec<HunkOffset>), ApplyError> {
    let git_error = |error: git2::Error| apply_error(patch, None, error.into());
    let tree = repo.find_tree(base_tree).map_err(git_error)?;
    let mut offsets = Vec::new();
    let plan = plan_patch(patch, &TreeSource { repo, tree: &tree }, &mut offsets)?;
    let mut update = TreeUpdateBuilder::new();
    for (path, state) in &plan {
        let fail = |error: git2::Error| apply_error(patch, Some(path), error.into());
        match state {
            None => {
                // A path created and removed again within the patch was
                // never in the base tree: nothing to remove.
                if tree.get_path(Path::new(path)).is_ok() {
                    update.remove(path.as_str());
                }
            }
            Some(file) => {
                let blob = repo.blob(&file.content).map_err(fail)?;
                let mode = match file.mode {
                    MODE_EXECUTABLE => FileMode::BlobExecutable,
                    MODE_SYMLINK => FileMode::Link,
                    _ => FileMode::Blob,
                };
                update.upsert(path.as_str(), blob, mode);
            }
        }
    }
    let new_tree = update.create_updated(repo, &tree).map_err(git_error)?;
    Ok((new_tree, offsets))
}

/// Applies every patch of `series` onto `base_tree` in order, each onto the
/// tree the previous applied patch produced.
pub fn apply_series_to_tree(
    repo: &Repository,
    base_tree: Oid,
    series: &Series,
    options: ApplyOptions,
) -> SeriesApplication {
    let mut outcomes = Vec::with_capacity(series.patches.len());
    let mut current = base_tree;
    let mut stopped = false;
    for patch in &series.patches {
        let (status, tree_after, offsets) = if stopped {
            (PatchStatus::NotAttempted, None, Vec::new())
        } else {
            match apply_to_tree_reporting_offsets(repo, current, patch) {
                Ok((tree, offsets)) => (PatchStatus::Applied, Some(tree), offsets),
                Err(error) => {
                    stopped = !options.keep_going;
                    (PatchStatus::Failed(error), None, Vec::new())
                }
            }
        };
        let attempted = !matches!(status, PatchStatus::NotAttempted);
        outcomes.push(PatchOutcome {
            index: patch.index,
            subject: patch.subject.clone(),
            status,
            tree_before: attempted.then_some(current),
            tree_after,
            offsets,
        });
        if let Some(tree) = tree_after {
            current = tree;
        }
    }
    SeriesApplication {
        outcomes,
        final_tree: Some(current),
    }
}
