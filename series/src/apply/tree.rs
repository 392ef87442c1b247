//! Applying onto in-memory git trees: blobs are read from the object
//! database and new blobs/trees written to it. The work tree, the index,
//! HEAD and every ref are left alone.
//!
//! Only objects the database does not have are written. libgit2's write of
//! an object that exists "freshens" it first: it sets the mtime of its loose
//! file or of the pack holding it, alternates included. A series that
//! recreates an existing blob or tree (a patch already merged, a revert)
//! would so touch the user's repository, or the repository a `--shared`
//! clone borrows from, even when the caller sends new objects to an
//! in-memory backend. Trees are therefore built here rather than with
//! libgit2's tree builders, which write every tree they make.

use std::collections::BTreeMap;
use std::path::Path;

use git2::{ErrorCode, ObjectType, Odb, Oid, Repository, Tree};

use super::{
    apply_error, plan_patch, ApplyOptions, ExistingFile, FileSource, HunkOffset, PatchOutcome,
    PatchStatus, SeriesApplication, MODE_EXECUTABLE, MODE_FILE, MODE_SYMLINK,
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
    let odb = repo.odb().map_err(git_error)?;
    let mut changes = Changes::new();
    for (path, state) in &plan {
        let fail = |error: git2::Error| apply_error(patch, Some(path), error.into());
        match state {
            // A path created and removed again within the patch was never in
            // the base tree: removing it changes nothing.
            None => {
                changes.insert(path.as_str(), None);
            }
            Some(file) => {
                let blob = write_object(&odb, ObjectType::Blob, &file.content).map_err(fail)?;
                let mode = match file.mode {
                    MODE_EXECUTABLE => MODE_EXECUTABLE,
                    MODE_SYMLINK => MODE_SYMLINK,
                    _ => MODE_FILE,
                };
                changes.insert(path.as_str(), Some((blob, mode)));
            }
        }
    }
    let new_tree = match updated_tree(repo, &odb, Some(&tree), &changes).map_err(git_error)? {
        Some(oid) => oid,
        // Every file removed: the empty tree.
        None => write_object(&odb, ObjectType::Tree, &[]).map_err(git_error)?,
    };
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

/// Writes an object unless the database has it already (see the module
/// documentation: a write of an existing object touches its file).
fn write_object(odb: &Odb, kind: ObjectType, data: &[u8]) -> Result<Oid, git2::Error> {
    let oid = Oid::hash_object(kind, data)?;
    if odb.exists(oid) {
        return Ok(oid);
    }
    odb.write(kind, data)
}

const MODE_TREE: u32 = 0o040000;

/// Paths (relative to a directory) mapped to a new blob and its mode, or to
/// `None` for a removal.
type Changes<'a> = BTreeMap<&'a str, Option<(Oid, u32)>>;

/// `tree` (`None`: no such directory yet) with `changes` applied: paths
/// relative to it mapped to a new blob and mode, or to `None` for a removal.
/// Returns `None` when nothing is left, as git keeps no empty directory.
fn updated_tree(
    repo: &Repository,
    odb: &Odb,
    tree: Option<&Tree>,
    changes: &Changes,
) -> Result<Option<Oid>, git2::Error> {
    // Entries by name (bytes: git allows names that are not UTF-8).
    let mut entries: BTreeMap<Vec<u8>, (u32, Oid)> = BTreeMap::new();
    if let Some(tree) = tree {
        for entry in tree.iter() {
            // Raw: an unchanged entry keeps its mode as written (old trees
            // have 100664), so an untouched directory keeps its id.
            let mode = u32::try_from(entry.filemode_raw()).unwrap_or(MODE_FILE);
            entries.insert(entry.name_bytes().to_vec(), (mode, entry.id()));
        }
    }
    let mut files: Vec<(&str, Option<(Oid, u32)>)> = Vec::new();
    let mut dirs: BTreeMap<&str, Changes> = BTreeMap::new();
    for (path, change) in changes {
        match path.split_once('/') {
            Some((dir, rest)) => {
                dirs.entry(dir).or_default().insert(rest, *change);
            }
            None => files.push((path, *change)),
        }
    }
    // Directories first, so that a file replacing a directory wins.
    for (dir, sub_changes) in &dirs {
        let existing = match entries.get(dir.as_bytes()) {
            Some((MODE_TREE, oid)) => Some(repo.find_tree(*oid)?),
            _ => None,
        };
        match updated_tree(repo, odb, existing.as_ref(), sub_changes)? {
            Some(oid) => entries.insert(dir.as_bytes().to_vec(), (MODE_TREE, oid)),
            None => entries.remove(dir.as_bytes()),
        };
    }
    for (name, change) in files {
        match change {
            Some((oid, mode)) => entries.insert(name.as_bytes().to_vec(), (mode, oid)),
            None => entries.remove(name.as_bytes()),
        };
    }
    if entries.is_empty() {
        return Ok(None);
    }
    // git's order: a directory sorts as if its name ended with '/'.
    let mut sorted: Vec<(Vec<u8>, u32, Oid)> = entries
        .into_iter()
        .map(|(name, (mode, oid))| (name, mode, oid))
        .collect();
    let sort_key = |name: &[u8], mode: u32| {
        let mut key = name.to_vec();
        if mode == MODE_TREE {
            key.push(b'/');
        }
        key
    };
    sorted.sort_by_cached_key(|(name, mode, _)| sort_key(name, *mode));
    let mut data = Vec::new();
    for (name, mode, oid) in &sorted {
        data.extend_from_slice(format!("{mode:o} ").as_bytes());
        data.extend_from_slice(name);
        data.push(0);
        data.extend_from_slice(oid.as_bytes());
    }
    write_object(odb, ObjectType::Tree, &data).map(Some)
}
