//! Applying onto a plain directory (a scratch copy: this writes into it).

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::{
    apply_error, plan_patch, ApplyOptions, ExistingFile, FileSource, HunkOffset, PatchOutcome,
    PatchStatus, SeriesApplication, MODE_EXECUTABLE, MODE_FILE, MODE_SYMLINK,
};
use crate::error::{ApplyError, ApplyFailure};
use crate::model::{Patch, Series};

struct DirSource<'a> {
    root: &'a Path,
}

/// `root/path`, refusing to go through a symlinked directory: a patch could
/// otherwise write outside the scratch copy.
fn resolve(root: &Path, path: &str) -> Result<PathBuf, ApplyFailure> {
    super::check_path(path)?;
    let mut current = root.to_path_buf();
    let components: Vec<&str> = path.split('/').collect();
    for (index, component) in components.iter().enumerate() {
        current.push(component);
        let is_last = index + 1 == components.len();
        if !is_last {
            match fs::symlink_metadata(&current) {
                Ok(metadata) if metadata.file_type().is_symlink() => {
                    return Err(ApplyFailure::UnsafePath(path.to_string()))
                }
                _ => {}
            }
        }
    }
    Ok(current)
}

impl FileSource for DirSource<'_> {
    fn read(&self, path: &str) -> Result<Option<ExistingFile>, ApplyFailure> {
        let full = resolve(self.root, path)?;
        let metadata = match fs::symlink_metadata(&full) {
            Ok(metadata) => metadata,
            Err(error)
                if error.kind() == ErrorKind::NotFound
                    || error.kind() == ErrorKind::NotADirectory =>
            {
                return Ok(None)
            }
            Err(error) => return Err(error.into()),
        };
        if metadata.file_type().is_symlink() {
            let target = fs::read_link(&full)?;
            return Ok(Some(ExistingFile {
                content: target.into_os_string().into_encoded_bytes(),
                mode: MODE_SYMLINK,
            }));
        }
        if !metadata.is_file() {
            return Err(ApplyFailure::NotAFile);
        }
        Ok(Some(ExistingFile {
            content: fs::read(&full)?,
            mode: if is_executable(&metadata) {
                MODE_EXECUTABLE
            } else {
                MODE_FILE
            },
        }))
    }
}

#[cfg(unix)]
fn is_executable(metadata: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_metadata: &fs::Metadata) -> bool {
    false
}

#[cfg(unix)]
fn write_file(full: &Path, file: &ExistingFile) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // Replace rather than write through: the old path may be a symlink.
    match fs::remove_file(full) {
        Err(error) if error.kind() != ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    if file.mode == MODE_SYMLINK {
        use std::os::unix::ffi::OsStringExt;
        let target = std::ffi::OsString::from_vec(file.content.clone());
        return std::os::unix::fs::symlink(target, full);
    }
    fs::write(full, &file.content)?;
    let permissions = if file.mode == MODE_EXECUTABLE {
        0o755
    } else {
        0o644
    };
    fs::set_permissions(full, fs::Permissions::from_mode(permissions))
}

#[cfg(not(unix))]
fn write_file(full: &Path, file: &ExistingFile) -> std::io::Result<()> {
    fs::write(full, &file.content)
}

/// Removes directories left empty by a removal, up to (not including) root.
fn remove_empty_parents(root: &Path, full: &Path) {
    let mut current = full.parent();
    while let Some(dir) = current {
        if dir == root || !dir.starts_with(root) || fs::remove_dir(dir).is_err() {
            break;
        }
        current = dir.parent();
    }
}

/// Applies `patch` onto the files under `dir`. All hunks of all files are
/// checked before anything is written, so a failing patch changes nothing.
pub fn apply_to_dir(patch: &Patch, dir: &Path) -> Result<(), ApplyError> {
    apply_to_dir_reporting_offsets(patch, dir).map(|_| ())
}

/// [`apply_to_dir`], also returning the hunks that needed an offset.
pub fn apply_to_dir_reporting_offsets(
    patch: &Patch,
    dir: &Path,
) -> Result<Vec<HunkOffset>, ApplyError> {
    let mut offsets = Vec::new();
    let plan = plan_patch(patch, &DirSource { root: dir }, &mut offsets)?;
    let fail = |path: &str, reason: ApplyFailure| apply_error(patch, Some(path), reason);
    // Removals first: a rename may free a path that a new file then takes.
    for (path, state) in &plan {
        if state.is_none() {
            let full = resolve(dir, path).map_err(|r| fail(path, r))?;
            match fs::remove_file(&full) {
                Err(error) if error.kind() != ErrorKind::NotFound => {
                    return Err(fail(path, error.into()))
                }
                _ => remove_empty_parents(dir, &full),
            }
        }
    }
    for (path, state) in &plan {
        if let Some(file) = state {
            let full = resolve(dir, path).map_err(|r| fail(path, r))?;
            if let Some(parent) = full.parent() {
                fs::create_dir_all(parent).map_err(|e| fail(path, e.into()))?;
            }
            write_file(&full, file).map_err(|e| fail(path, e.into()))?;
        }
    }
    Ok(offsets)
}

/// Applies every patch of `series` onto `dir` in order.
pub fn apply_series_to_dir(
    series: &Series,
    dir: &Path,
    options: ApplyOptions,
) -> SeriesApplication {
    let mut outcomes = Vec::with_capacity(series.patches.len());
    let mut stopped = false;
    for patch in &series.patches {
        let (status, offsets) = if stopped {
            (PatchStatus::NotAttempted, Vec::new())
        } else {
            match apply_to_dir_reporting_offsets(patch, dir) {
                Ok(offsets) => (PatchStatus::Applied, offsets),
                Err(error) => {
                    stopped = !options.keep_going;
                    (PatchStatus::Failed(error), Vec::new())
                }
            }
        };
        outcomes.push(PatchOutcome {
            index: patch.index,
            subject: patch.subject.clone(),
            status,
            tree_before: None,
            tree_after: None,
            offsets,
        });
    }
    SeriesApplication {
        outcomes,
        final_tree: None,
    }
}
