//! Errors of the analyzer library. Input problems in single files are not
//! errors of the run: they become `Diagnostic`s and the run goes on.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AnalyzerError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: invalid configuration: {message}", path.display())]
    Config {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}: no such file or directory", path.display())]
    MissingPath { path: PathBuf },
    #[error("{}: is {kind}, not a source file or directory", path.display())]
    NotAFileOrDirectory { path: PathBuf, kind: &'static str },
    #[error("{}: not inside the tree {} (every PATH of one run must be in one kernel tree)", path.display(), tree.display())]
    OutsideTree { path: PathBuf, tree: PathBuf },
    #[error("tree-sitter: {0}")]
    Parser(String),
}
