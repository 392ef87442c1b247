//! What a build is asked ([`BuildRequest`]), what it produces ([`Build`],
//! `meta.json`), how it fails ([`BuildError`], with the CLI's exit code),
//! where its messages go ([`Reporter`]), and the context its stages share
//! ([`Ctx`]).

use crate::cache::Cache;
use crate::config::{self, Dropped, Merged};
use crate::patches;
use crate::tree::{self, Tree, TreeSpec};
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

pub const ARCH: &str = "x86_64";
pub const BASE_CONFIG: &str = "tinyconfig";
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Status line on a terminal, nothing otherwise.
    Auto,
    /// A status line (redrawn in place).
    Tty,
    /// Only a line when a step starts and ends.
    Quiet,
}

#[derive(Debug, Clone)]
pub struct BuildRequest {
    pub tree: TreeSpec,
    pub series: Option<PathBuf>,
    /// `--config a,b,c`
    pub config: String,
    pub jobs: usize,
    /// Build even when olddefconfig dropped requested options (they are listed in
    /// the result).
    pub allow_dropped: bool,
    /// Ignore a cached result and run make again.
    pub rebuild: bool,
    pub progress: ProgressMode,
}

impl BuildRequest {
    pub fn new(tree: TreeSpec) -> BuildRequest {
        BuildRequest {
            tree,
            series: None,
            config: config::DEFAULT_FRAGMENTS.to_string(),
            jobs: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            allow_dropped: false,
            rebuild: false,
            progress: ProgressMode::Auto,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StageSecs {
    pub sync: f64,
    pub patch: f64,
    pub copy_baseline: f64,
    pub config: f64,
    pub make: f64,
    pub total: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SeriesMeta {
    pub path: PathBuf,
    pub hash: String,
    pub subjects: Vec<String>,
}

/// `builds/<key>/meta.json`, written when a build succeeds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BuildMeta {
    pub key: String,
    pub tree: String,
    pub tree_origin: PathBuf,
    pub tree_identity: String,
    pub kernel_version: String,
    pub kernel_release: String,
    pub series: Option<SeriesMeta>,
    pub fragments: Vec<String>,
    pub config_hash: String,
    /// Key of the unpatched build this one started from.
    pub baseline: Option<String>,
    /// Files make compiled (`CC` lines).
    pub compiled: usize,
    pub ccache: bool,
    pub jobs: usize,
    pub dropped: Vec<Dropped>,
    pub secs: StageSecs,
    pub finished_unix: u64,
}

#[derive(Debug, Clone)]
pub struct Build {
    pub dir: PathBuf,
    pub bzimage: PathBuf,
    pub meta: BuildMeta,
    /// Taken from the cache without running make.
    pub cached: bool,
    /// The baseline built on the way (for a series whose baseline was missing).
    pub baseline_built: Option<Box<Build>>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Tree(#[from] tree::TreeError),
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Series(#[from] patches::SeriesLoadError),
    #[error("{0}\n(the scratch copy was restored; nothing was built)")]
    PatchFailed(patches::PatchFailure),
    #[error("olddefconfig dropped {} requested option(s):\n  {}\n(config: {}; pass --allow-dropped to build anyway)", .dropped.len(), .dropped.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n  "), .config.display())]
    Dropped {
        dropped: Vec<Dropped>,
        config: PathBuf,
    },
    #[error("`{tool}` not found: {hint}")]
    ToolMissing { tool: String, hint: String },
    #[error("make {target} failed (exit {status}); log: {}\n{}", .log.display(), .first_errors.join("\n"))]
    Make {
        target: String,
        status: String,
        log: PathBuf,
        first_errors: Vec<String>,
    },
    #[error("{context}: {error}")]
    Io {
        context: String,
        error: std::io::Error,
    },
    #[error("{0}")]
    Cache(String),
}

impl BuildError {
    /// Exit code for the CLI: 1 the kernel does not compile, 2 bad input (tree,
    /// fragment, series, patch that does not apply, dropped options), 3 the
    /// machine (missing tools, I/O, make failing outside compilation).
    pub fn exit_code(&self) -> i32 {
        match self {
            BuildError::Tree(tree::TreeError::Io { .. })
            | BuildError::Tree(tree::TreeError::LockTimeout { .. }) => 3,
            BuildError::Tree(_) | BuildError::Config(_) | BuildError::Series(_) => 2,
            BuildError::PatchFailed(_) | BuildError::Dropped { .. } => 2,
            BuildError::Make { target, .. } if target == "bzImage" => 1,
            BuildError::Make { .. }
            | BuildError::ToolMissing { .. }
            | BuildError::Io { .. }
            | BuildError::Cache(_) => 3,
        }
    }
}

pub(super) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
    let context = context.into();
    move |error| BuildError::Io { context, error }
}

/// Where build messages go (stderr by default; tests collect them).
pub trait Reporter {
    fn note(&mut self, msg: &str);
}

pub struct StderrReporter;
impl Reporter for StderrReporter {
    fn note(&mut self, msg: &str) {
        eprintln!("{msg}");
    }
}

pub(super) fn write_meta(dir: &Path, meta: &BuildMeta) -> Result<(), BuildError> {
    let path = dir.join("meta.json");
    let tmp = dir.join("meta.json.tmp");
    let text = serde_json::to_string_pretty(meta).expect("meta serializes");
    fs::write(&tmp, text + "\n").map_err(io_err(format!("writing {}", tmp.display())))?;
    fs::rename(&tmp, &path).map_err(io_err(format!("writing {}", path.display())))
}

/// What one build of a request works with (the request, the cache, the
/// resolved tree and its walk, the merged config).
pub(super) struct Ctx<'a> {
    pub(super) req: &'a BuildRequest,
    pub(super) cache: &'a Cache,
    pub(super) tree: &'a Tree,
    pub(super) origin_walk: &'a [(PathBuf, tree::Meta)],
    pub(super) identity: &'a str,
    pub(super) merged: &'a Merged,
    pub(super) config_hash: &'a str,
}
