//! The parts of a plan: kernels, config sets, series, and the error that
//! names where in the plan file something is wrong.

use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}:{column}: {key}: {message}")]
pub struct PlanError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub key: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum KernelSource {
    /// `debian:6.12` or a directory given to `vm build --tree` as is.
    Tree { tree: String },
    /// A git repository and a ref: checked out (shared clone) into the cache.
    Git { repo: String, git_ref: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Kernel {
    pub name: String,
    pub source: KernelSource,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConfigSet {
    pub name: String,
    pub fragments: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SeriesSource {
    Mbox { path: PathBuf },
    Dir { path: PathBuf },
    Git { repo: String, range: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSpec {
    pub name: String,
    pub source: SeriesSource,
    pub kernels: Vec<String>,
    pub configs: Vec<String>,
}
