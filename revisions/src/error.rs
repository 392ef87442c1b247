//! Errors name what the reader has to look at: the repository, the
//! revision, the series file.
//!
//! The text of a libgit2 or OS error is part of the message (its message
//! only: libgit2's `; class=..; code=..` suffix says nothing to a reader)
//! and the error is kept in a field that is *not* the error's `source()`:
//! error-chain printers (`anyhow`'s `{:#}`, as the CLI prints) would
//! otherwise print that text a second time.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RevisionsError {
    #[error("cannot open git repository {}: {}", path.display(), error.message())]
    Repo { path: PathBuf, error: git2::Error },
    #[error("revision `{rev}` does not name a commit or tree in {}: {}", repo.display(), error.message())]
    BadRev {
        rev: String,
        repo: PathBuf,
        error: git2::Error,
    },
    /// A revision beyond a shallow clone's history (`HEAD~1` of a
    /// `--depth 1` clone): libgit2 only says "object not found".
    #[error("{rev}: not in this shallow clone (parent of {commit} is missing; fetch more history, e.g. `git fetch --deepen=N`)")]
    ShallowHistory { rev: String, commit: String },
    /// The revisions given do not make a pair (`A...B`, a missing NEW).
    #[error("{message}")]
    Usage { message: String },
    #[error("reading {what} from the object database: {}", error.message())]
    Git { what: String, error: git2::Error },
    /// Without it, the objects of patched trees would be written to disk.
    #[error("cannot add an in-memory object backend: {}", error.message())]
    InMemoryBackend { error: git2::Error },
    /// The path prefixes select nothing: most likely a typo, which would
    /// otherwise pass as "nothing introduced".
    #[error("no .c or .h file under {} in {}", paths.join(", "), revs.join(" or "))]
    NothingSelected {
        paths: Vec<String>,
        revs: Vec<String>,
    },
    #[error(transparent)]
    Series(#[from] mmstall_series::SeriesError),
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}
