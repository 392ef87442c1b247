//! Errors name what the reader has to look at: the repository, the
//! revision, the series file.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RevisionsError {
    #[error("cannot open git repository {}: {}", path.display(), source.message())]
    Repo {
        path: PathBuf,
        #[source]
        source: git2::Error,
    },
    #[error("revision `{rev}` does not name a commit or tree in {}: {}", repo.display(), source.message())]
    BadRev {
        rev: String,
        repo: PathBuf,
        #[source]
        source: git2::Error,
    },
    #[error("reading {what} from the object database: {}", source.message())]
    Git {
        what: String,
        #[source]
        source: git2::Error,
    },
    /// The path prefixes select nothing: most likely a typo, which would
    /// otherwise pass as "nothing introduced".
    #[error("no .c or .h file under {} in {}", paths.join(", "), revs.join(" or "))]
    NothingSelected {
        paths: Vec<String>,
        revs: Vec<String>,
    },
    #[error(transparent)]
    Series(#[from] mmstall_series::SeriesError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
