//! Errors of loading (`SeriesError`) and applying (`ApplyError`) a series.
//! Both name where the problem is: the input file and line, or the patch,
//! file and hunk, because the reader has to go and look at it.

use std::path::PathBuf;

use crate::model::SourceLocation;

/// A series could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum SeriesError {
    /// The OS error's text is in the message; the error is not exposed as
    /// `source()`, so a chain printer (`anyhow`'s `{:#}`) prints it once.
    #[error("cannot read {}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The input is not a well-formed mbox/patch at this place.
    #[error("{location}: {message}")]
    Malformed {
        location: SourceLocation,
        message: String,
    },
    /// Readable, but without any patch in it.
    #[error("{}: no patches found: {found} (expected an mbox as written by `git format-patch --stdout` or `b4 am`, a patch file, or a directory of *.patch files)", path.display())]
    NoPatches {
        path: PathBuf,
        /// What was there instead.
        found: String,
    },
}

impl SeriesError {
    pub(crate) fn malformed(
        file: &std::path::Path,
        line: usize,
        message: impl Into<String>,
    ) -> Self {
        SeriesError::Malformed {
            location: SourceLocation {
                file: file.to_path_buf(),
                line,
            },
            message: message.into(),
        }
    }
}

/// A patch could not be applied. Names the patch, the file and what failed.
#[derive(Debug, thiserror::Error)]
#[error("patch {patch_index} {subject:?}: {}{reason}", file.as_deref().map(|f| format!("{f}: ")).unwrap_or_default())]
pub struct ApplyError {
    /// 1-based position of the patch in its series.
    pub patch_index: usize,
    pub subject: String,
    /// The file the failure is about, when there is one.
    pub file: Option<String>,
    pub reason: ApplyFailure,
}

/// Why a patch did not apply.
#[derive(Debug, thiserror::Error)]
pub enum ApplyFailure {
    /// The hunk's context/removed lines were found nowhere in the file.
    #[error("hunk #{hunk} ({header}) does not apply: expected line {expected_line} to be {}, found {}{}",
        quoted_or_end(expected_text), quoted_or_end(found_text),
        if *already_applied { "; the patch seems to be applied already (it applies in reverse)" } else { "" })]
    HunkMismatch {
        /// 1-based hunk number within the file.
        hunk: usize,
        /// The hunk's `@@ -a,b +c,d @@ section` line.
        header: String,
        /// Line (in the file before this patch) where the hunk was expected.
        expected_line: usize,
        /// The first line of the hunk that did not match there (`None`: the
        /// hunk ends the file, but the file goes on).
        expected_text: Option<String>,
        /// What the file has at that line (`None`: the file ends before).
        found_text: Option<String>,
        /// Every hunk of this file applies in reverse.
        already_applied: bool,
    },
    #[error("file does not exist{}", if *already_applied { "; the patch seems to be applied already (the file it creates exists with the patch's result)" } else if *deleting { " (already deleted?)" } else { "" })]
    FileMissing {
        deleting: bool,
        already_applied: bool,
    },
    #[error("cannot create: file already exists{}", if *same_content { " with the patch's content; the patch seems to be applied already" } else { "" })]
    FileExists { same_content: bool },
    #[error("cannot delete: the file has content the patch does not remove")]
    DeleteLeavesContent,
    #[error("not a regular file (a directory or a submodule)")]
    NotAFile,
    #[error("binary patches are not supported (`GIT binary patch` / `Binary files ... differ`)")]
    Binary,
    #[error("a {0:?} change without the path it needs (a FilePatch built by hand?)")]
    MissingPath(crate::model::ChangeKind),
    #[error("unsupported file mode {0:o}")]
    UnsupportedMode(u32),
    #[error("unsafe path {0:?} (absolute, empty, or with `..`/`.git` components)")]
    UnsafePath(String),
    // The cause's text is in the message and the cause is not `source()`
    // (see `SeriesError::Io`); libgit2's message only, without its
    // `; class=..; code=..` suffix.
    #[error("I/O error: {0}")]
    Io(std::io::Error),
    #[error("git error: {}", .0.message())]
    Git(git2::Error),
}

impl From<std::io::Error> for ApplyFailure {
    fn from(error: std::io::Error) -> Self {
        ApplyFailure::Io(error)
    }
}

impl From<git2::Error> for ApplyFailure {
    fn from(error: git2::Error) -> Self {
        ApplyFailure::Git(error)
    }
}

/// A line as Rust string literal (tabs visible), or "end of file".
fn quoted_or_end(text: &Option<String>) -> String {
    match text {
        Some(text) => format!("{text:?}"),
        None => "end of file".to_string(),
    }
}
