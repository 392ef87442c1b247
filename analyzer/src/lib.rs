//! mmstall analyzer.
