//! Cached out-of-tree kernel builds.
//!
//! A build is keyed by (tree identity, series hash, merged-config hash); its
//! results live in `builds/<key>/` (see [`crate::cache`]). Every build of a
//! tree with a given config runs make in one fixed object directory
//! (`builds/live-<tree>-<config>/obj`) on the tree's scratch copy, through ccache:
//! objtool and the host tools record absolute paths, so an object tree is only
//! reusable where it was built. After a baseline (unpatched) build, the object
//! tree is snapshotted into `builds/<key>/obj`. A build with a patch series
//! first makes sure its baseline exists, puts the baseline's snapshot back
//! into the object directory (timestamps kept), applies the series onto the
//! scratch copy in place and runs make: only what the patches touch
//! recompiles. The scratch copy is restored afterwards (files get their
//! pre-patch content and mtime back), and at the start of every build.

use crate::cache::Cache;
use crate::config::{self, Dropped, Merged};
use crate::patches::{self, LoadedSeries};
use crate::tree::{self, Tree, TreeSpec};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const ARCH: &str = "x86_64";
pub const BASE_CONFIG: &str = "tinyconfig";
/// Bumped when the build recipe changes in a way that makes old builds unusable.
const RECIPE: &str = "mmstall-build-v2";

/// The cache key of a build.
pub fn cache_key(tree_identity: &str, series_hash: Option<&str>, config_hash: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        RECIPE,
        "tree",
        tree_identity,
        "series",
        series_hash.unwrap_or("none"),
        "config",
        config_hash,
    ] {
        h.update(part.as_bytes());
        h.update(b"\0");
    }
    hex::encode(h.finalize())[..20].to_string()
}

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

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
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

/// A request's tree and merged config, with the tree's scratch lock held
/// (one build per scratch copy at a time; waits for another build, saying
/// so) and the source tree walked: what `build` and `check_config` share.
struct Source {
    tree: Tree,
    merged: Merged,
    config_hash: String,
    _lock: tree::ScratchLock,
    origin_walk: Vec<(PathBuf, tree::Meta)>,
    identity: String,
    /// Seconds spent walking the source tree.
    walk_secs: f64,
}

impl Source {
    fn open(
        req: &BuildRequest,
        cache: &Cache,
        rep: &mut dyn Reporter,
    ) -> Result<Source, BuildError> {
        let tree = tree::resolve(&req.tree, cache)?;
        let fragments = config::resolve_fragments(&req.config)?;
        let merged = config::merge(&fragments);
        let config_hash = merged.hash(BASE_CONFIG, ARCH);
        let lock_path = cache.scratch_lock(&tree.slug);
        let lock = tree::ScratchLock::acquire(&lock_path, Duration::from_secs(3 * 3600), |pid| {
            rep.note(&format!(
                "vm build: waiting for another build (pid {pid}) using {}",
                lock_path.display()
            ))
        })?;
        let t = Instant::now();
        let origin_walk = tree::walk(&tree.origin)?;
        let identity = tree::identity(&origin_walk);
        Ok(Source {
            tree,
            merged,
            config_hash,
            _lock: lock,
            origin_walk,
            identity,
            walk_secs: t.elapsed().as_secs_f64(),
        })
    }

    fn ctx<'a>(&'a self, req: &'a BuildRequest, cache: &'a Cache) -> Ctx<'a> {
        Ctx {
            req,
            cache,
            tree: &self.tree,
            origin_walk: &self.origin_walk,
            identity: &self.identity,
            merged: &self.merged,
            config_hash: &self.config_hash,
        }
    }
}

/// Fails with the install hint when a build tool is not on PATH.
fn require_tools(tools: &[(&str, &str)]) -> Result<(), BuildError> {
    for (tool, hint) in tools {
        if !have_tool(tool) {
            return Err(BuildError::ToolMissing {
                tool: tool.to_string(),
                hint: format!("{hint} (scripts/setup.sh does)"),
            });
        }
    }
    Ok(())
}

fn have_tool(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false)
}

/// Builds (or finds in the cache) the kernel a request describes.
pub fn build(
    req: &BuildRequest,
    cache: &Cache,
    rep: &mut dyn Reporter,
) -> Result<Build, BuildError> {
    let total = Instant::now();
    let series = req.series.as_deref().map(patches::load).transpose()?;
    require_tools(&[
        ("make", "install build-essential"),
        ("gcc", "install build-essential"),
        ("flex", "install flex"),
        ("bison", "install bison"),
    ])?;
    let src = Source::open(req, cache, rep)?;
    let (identity, config_hash) = (&src.identity, &src.config_hash);
    let ctx = src.ctx(req, cache);
    let key = cache_key(
        identity,
        series.as_ref().map(|s| s.hash.as_str()),
        config_hash,
    );
    if !req.rebuild {
        if let Some(b) = cached(cache, &key) {
            return Ok(b);
        }
    }
    let mut baseline_built = None;
    let baseline = match &series {
        None => None,
        Some(_) => {
            let bkey = cache_key(identity, None, config_hash);
            // A baseline is usable only with its object snapshot.
            let b = match cached(cache, &bkey).filter(|b| b.dir.join("obj").is_dir()) {
                Some(b) => b,
                None => {
                    rep.note(&format!(
                        "vm build: building the unpatched baseline {bkey} first"
                    ));
                    let b = ctx.build_one(&bkey, None, None, rep)?;
                    baseline_built = Some(Box::new(b.clone()));
                    b
                }
            };
            Some(b)
        }
    };
    let mut b = ctx.build_one(&key, series.as_ref(), baseline.as_ref(), rep)?;
    b.meta.secs.sync += src.walk_secs;
    b.meta.secs.total = total.elapsed().as_secs_f64();
    write_meta(&b.dir, &b.meta)?;
    b.baseline_built = baseline_built;
    Ok(b)
}

/// What `olddefconfig` made of a fragment list, without compiling.
#[derive(Debug, Clone)]
pub struct ConfigCheck {
    pub fragments: Vec<String>,
    pub requested: usize,
    pub dropped: Vec<Dropped>,
    /// The final `.config`.
    pub config: String,
}

/// Runs only the config stage (tinyconfig, fragments, olddefconfig) for a
/// request in a temporary object directory and reports the dropped options.
/// Patch series are ignored.
pub fn check_config(
    req: &BuildRequest,
    cache: &Cache,
    rep: &mut dyn Reporter,
) -> Result<ConfigCheck, BuildError> {
    require_tools(&[("make", "install build-essential")])?;
    let src = Source::open(req, cache, rep)?;
    let scratch = cache.scratch_src(&src.tree.slug);
    tree::sync(
        &src.tree.origin,
        &src.origin_walk,
        &scratch,
        &cache.scratch_manifest(&src.tree.slug),
    )?;
    let ctx = src.ctx(req, cache);
    let tmp = cache
        .root
        .join("tmp")
        .join(format!("config-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(io_err(format!("creating {}", tmp.display())))?;
    let log = tmp.join("config.log");
    let result = (|| {
        ctx.run_logged(
            ctx.make(&scratch, &tmp).arg(BASE_CONFIG),
            "tinyconfig",
            &log,
            ProgressMode::Quiet,
            rep,
        )?;
        let base = fs::read_to_string(tmp.join(".config"))
            .map_err(io_err("reading the tinyconfig .config"))?;
        fs::write(tmp.join(".config"), config::apply(&base, &src.merged))
            .map_err(io_err("writing .config"))?;
        ctx.run_logged(
            ctx.make(&scratch, &tmp).arg("olddefconfig"),
            "olddefconfig",
            &log,
            ProgressMode::Quiet,
            rep,
        )?;
        let fin = fs::read_to_string(tmp.join(".config")).map_err(io_err("reading .config"))?;
        Ok(ConfigCheck {
            fragments: src.merged.fragments.clone(),
            requested: src.merged.options.len(),
            dropped: config::check_survivors(&fin, &src.merged),
            config: fin,
        })
    })();
    let _ = fs::remove_dir_all(&tmp);
    result
}

/// A finished build from the cache, if there is one.
pub fn cached(cache: &Cache, key: &str) -> Option<Build> {
    let dir = cache.build_dir(key);
    let meta: BuildMeta =
        serde_json::from_str(&fs::read_to_string(dir.join("meta.json")).ok()?).ok()?;
    let bzimage = dir.join("bzImage");
    (bzimage.is_file() && meta.key == key).then_some(Build {
        dir,
        bzimage,
        meta,
        cached: true,
        baseline_built: None,
    })
}

/// Opens a build for `vm run --kernel`: a build directory, a key in the cache,
/// or a bzImage path.
pub fn locate_kernel(
    cache: &Cache,
    spec: &str,
) -> Result<(PathBuf, Option<BuildMeta>), BuildError> {
    let p = Path::new(spec);
    let dir = if p.is_dir() {
        p.to_path_buf()
    } else if p.is_file() {
        return Ok((p.to_path_buf(), None));
    } else if !spec.is_empty()
        && spec.bytes().all(|b| b.is_ascii_hexdigit())
        && cache.build_dir(spec).is_dir()
    {
        cache.build_dir(spec)
    } else {
        return Err(BuildError::Cache(format!(
            "--kernel {spec}: not a build directory, a build key under {}, or a kernel image",
            cache.builds().display()
        )));
    };
    let bz = dir.join("bzImage");
    if !bz.is_file() {
        return Err(BuildError::Cache(format!(
            "--kernel {}: no bzImage in it (did the build finish?)",
            dir.display()
        )));
    }
    let meta = fs::read_to_string(dir.join("meta.json"))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok());
    Ok((bz, meta))
}

fn write_meta(dir: &Path, meta: &BuildMeta) -> Result<(), BuildError> {
    let path = dir.join("meta.json");
    let tmp = dir.join("meta.json.tmp");
    let text = serde_json::to_string_pretty(meta).expect("meta serializes");
    fs::write(&tmp, text + "\n").map_err(io_err(format!("writing {}", tmp.display())))?;
    fs::rename(&tmp, &path).map_err(io_err(format!("writing {}", path.display())))
}

struct Ctx<'a> {
    req: &'a BuildRequest,
    cache: &'a Cache,
    tree: &'a Tree,
    origin_walk: &'a [(PathBuf, tree::Meta)],
    identity: &'a str,
    merged: &'a Merged,
    config_hash: &'a str,
}

/// Restores the scratch copy when a patched build ends, however it ends.
struct Restore<'a> {
    origin: &'a Path,
    walk: &'a [(PathBuf, tree::Meta)],
    scratch: &'a Path,
    manifest: &'a Path,
}
impl Drop for Restore<'_> {
    fn drop(&mut self) {
        if let Err(e) = tree::sync(self.origin, self.walk, self.scratch, self.manifest) {
            eprintln!(
                "vm build: warning: restoring {} failed: {e} (the next build restores it)",
                self.scratch.display()
            );
        }
    }
}

impl Ctx<'_> {
    fn make(&self, scratch: &Path, obj: &Path) -> Command {
        let mut c = Command::new("make");
        c.current_dir(scratch)
            .arg(format!("O={}", obj.display()))
            .arg(format!("ARCH={ARCH}"))
            .env("KBUILD_BUILD_TIMESTAMP", "2024-01-01 00:00:00 UTC")
            .env("KBUILD_BUILD_USER", "mmstall")
            .env("KBUILD_BUILD_HOST", "mmstall")
            .env_remove("MAKEFLAGS")
            .env_remove("MFLAGS")
            .env_remove("ARCH")
            .env_remove("CROSS_COMPILE");
        if have_tool("ccache") {
            c.arg("CC=ccache gcc")
                .env("CCACHE_DIR", self.cache.ccache())
                // Relative paths under the cache root: the hashes do not depend
                // on which builds/<key>/obj directory compiles.
                .env("CCACHE_BASEDIR", &self.cache.root)
                .env("CCACHE_NOHASHDIR", "1");
        }
        c
    }

    fn build_one(
        &self,
        key: &str,
        series: Option<&LoadedSeries>,
        baseline: Option<&Build>,
        rep: &mut dyn Reporter,
    ) -> Result<Build, BuildError> {
        let total = Instant::now();
        let mut secs = StageSecs::default();
        let dir = self.cache.build_dir(key);
        let scratch = self.cache.scratch_src(&self.tree.slug);
        let manifest = self.cache.scratch_manifest(&self.tree.slug);
        let obj = self.cache.live_obj(&self.tree.slug, self.config_hash);

        let t = Instant::now();
        let st = tree::sync(&self.tree.origin, self.origin_walk, &scratch, &manifest)?;
        if st.copied + st.removed + st.restored > 0 {
            rep.note(&format!(
                "vm build: scratch copy {} synchronized ({} copied, {} restored, {} removed)",
                scratch.display(),
                st.copied,
                st.restored,
                st.removed
            ));
        }
        secs.sync = t.elapsed().as_secs_f64();

        // Declared before the patches are applied; dropped (scratch copy
        // restored) when this function returns, after make.
        let _restore;
        if let Some(s) = series {
            _restore = Restore {
                origin: &self.tree.origin,
                walk: self.origin_walk,
                scratch: &scratch,
                manifest: &manifest,
            };
            let t = Instant::now();
            patches::apply_all(s, &scratch).map_err(BuildError::PatchFailed)?;
            secs.patch = t.elapsed().as_secs_f64();
            rep.note(&format!(
                "vm build: applied {} patch(es) from {}",
                s.subjects.len(),
                s.path.display()
            ));
        }

        fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
        let _ = fs::remove_file(dir.join("meta.json"));

        // The live object directory must hold a consistent state before make:
        // a baseline snapshot (a patched build starts from its baseline's), or
        // nothing.
        let t = Instant::now();
        let state = LiveState::load(&obj);
        let want_base = baseline.map(|b| b.meta.key.clone());
        match (&want_base, &state) {
            // Patched build: start from exactly the baseline's objects.
            (Some(bk), s) if s.baseline.as_deref() != Some(bk.as_str()) || s.dirty => {
                restore_snapshot(&self.cache.build_dir(bk).join("obj"), &obj)?;
                rep.note(&format!(
                    "vm build: object tree restored from baseline {bk}"
                ));
            }
            // Baseline build after a patched one: go back to that patched
            // build's baseline, or start empty.
            (None, s) if s.dirty => {
                let snap = s
                    .baseline
                    .as_deref()
                    .map(|b| self.cache.build_dir(b).join("obj"))
                    .filter(|p| p.is_dir());
                match snap {
                    Some(snap) => restore_snapshot(&snap, &obj)?,
                    None => {
                        let _ = fs::remove_dir_all(&obj);
                    }
                }
            }
            _ => {}
        }
        secs.copy_baseline = t.elapsed().as_secs_f64();
        fs::create_dir_all(&obj).map_err(io_err(format!("creating {}", obj.display())))?;
        // From here until a baseline snapshot is taken, the directory is not a
        // clean baseline (a crash leaves it marked dirty).
        LiveState {
            baseline: want_base.clone().or(state.baseline.clone()),
            dirty: true,
        }
        .save(&obj)?;

        // Config: tinyconfig + fragments + olddefconfig for a baseline; the
        // baseline's .config (already merged) + olddefconfig for a patched build.
        let t = Instant::now();
        let config_log = dir.join("config.log");
        let _ = fs::remove_file(&config_log);
        if baseline.is_none() {
            self.run_logged(
                self.make(&scratch, &obj).arg(BASE_CONFIG),
                "tinyconfig",
                &config_log,
                ProgressMode::Quiet,
                rep,
            )?;
            let base = fs::read_to_string(obj.join(".config"))
                .map_err(io_err("reading the tinyconfig .config"))?;
            fs::write(obj.join(".config"), config::apply(&base, self.merged))
                .map_err(io_err("writing .config"))?;
        }
        self.run_logged(
            self.make(&scratch, &obj).arg("olddefconfig"),
            "olddefconfig",
            &config_log,
            ProgressMode::Quiet,
            rep,
        )?;
        let final_config =
            fs::read_to_string(obj.join(".config")).map_err(io_err("reading .config"))?;
        fs::write(dir.join("config"), &final_config).map_err(io_err("saving config"))?;
        fs::write(dir.join("fragments.config"), self.merged.to_fragment_text())
            .map_err(io_err("saving fragments"))?;
        let dropped = config::check_survivors(&final_config, self.merged);
        if !dropped.is_empty() {
            if !self.req.allow_dropped {
                return Err(BuildError::Dropped {
                    dropped,
                    config: dir.join("config"),
                });
            }
            for d in &dropped {
                rep.note(&format!("vm build: warning: dropped {d}"));
            }
        }
        secs.config = t.elapsed().as_secs_f64();

        let t = Instant::now();
        let label = match series {
            Some(s) => format!(
                "patched kernel ({} patch(es), incremental from {})",
                s.subjects.len(),
                baseline.map(|b| b.meta.key.as_str()).unwrap_or("?")
            ),
            None => format!("{} {}", self.tree.spec, self.tree.version),
        };
        rep.note(&format!(
            "vm build: compiling {label} in {} with -j{}",
            obj.display(),
            self.req.jobs
        ));
        let build_log = dir.join("build.log");
        let _ = fs::remove_file(&build_log);
        let compiled = self.run_logged(
            self.make(&scratch, &obj)
                .arg(format!("-j{}", self.req.jobs.max(1)))
                .arg("bzImage"),
            "bzImage",
            &build_log,
            self.req.progress,
            rep,
        )?;
        secs.make = t.elapsed().as_secs_f64();

        let bz = dir.join("bzImage");
        fs::copy(obj.join("arch/x86/boot/bzImage"), &bz).map_err(io_err("copying bzImage"))?;
        let release = fs::read_to_string(obj.join("include/config/kernel.release"))
            .unwrap_or_default()
            .trim()
            .to_string();
        if series.is_none() {
            // Snapshot the clean baseline object tree for patched builds.
            let t = Instant::now();
            take_snapshot(&obj, &dir.join("obj"))?;
            LiveState {
                baseline: Some(key.to_string()),
                dirty: false,
            }
            .save(&obj)?;
            secs.copy_baseline += t.elapsed().as_secs_f64();
        }
        secs.total = total.elapsed().as_secs_f64();
        rep.note(&format!(
            "vm build: done in {:.0} s ({} files compiled): {}",
            secs.total,
            compiled,
            bz.display()
        ));
        let meta = BuildMeta {
            key: key.to_string(),
            tree: self.tree.spec.to_string(),
            tree_origin: self.tree.origin.clone(),
            tree_identity: self.identity.to_string(),
            kernel_version: self.tree.version.clone(),
            kernel_release: release,
            series: series.map(|s| SeriesMeta {
                path: s.path.clone(),
                hash: s.hash.clone(),
                subjects: s.subjects.clone(),
            }),
            fragments: self.merged.fragments.clone(),
            config_hash: self.config_hash.to_string(),
            baseline: baseline.map(|b| b.meta.key.clone()),
            compiled,
            ccache: have_tool("ccache"),
            jobs: self.req.jobs,
            dropped,
            secs,
            finished_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        write_meta(&dir, &meta)?;
        Ok(Build {
            dir,
            bzimage: bz,
            meta,
            cached: false,
            baseline_built: None,
        })
    }

    /// Runs a make step with its output appended to `log`; returns how many
    /// files it compiled. On failure, the first compiler errors are in the error.
    fn run_logged(
        &self,
        cmd: &mut Command,
        target: &str,
        log: &Path,
        progress: ProgressMode,
        rep: &mut dyn Reporter,
    ) -> Result<usize, BuildError> {
        let mut logf = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(io_err(format!("opening {}", log.display())))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(io_err("running make"))?;
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let out = child.stdout.take().expect("piped");
        let err = child.stderr.take().expect("piped");
        let tx2 = tx.clone();
        let t1 = std::thread::spawn(move || {
            for l in BufReader::new(out).split(b'\n').map_while(Result::ok) {
                let _ = tx.send(String::from_utf8_lossy(&l).into_owned());
            }
        });
        let t2 = std::thread::spawn(move || {
            for l in BufReader::new(err).split(b'\n').map_while(Result::ok) {
                let _ = tx2.send(String::from_utf8_lossy(&l).into_owned());
            }
        });
        let tty = match progress {
            ProgressMode::Tty => true,
            ProgressMode::Quiet => false,
            ProgressMode::Auto => std::io::stderr().is_terminal(),
        };
        let mut bar = Progress::new(tty, target);
        let mut compiled = 0;
        for line in rx {
            let _ = writeln!(logf, "{line}");
            if let Some(what) = step_of(&line) {
                if what.starts_with("CC ") {
                    compiled += 1;
                }
                bar.update(&what, compiled);
            }
        }
        let _ = t1.join();
        let _ = t2.join();
        bar.finish();
        let status = child.wait().map_err(io_err("waiting for make"))?;
        if !status.success() {
            let text = fs::read_to_string(log).unwrap_or_default();
            let mut first = first_errors(&text, 20);
            if first.is_empty() {
                first.push("(no compiler error found in the log; see the end of the log)".into());
            }
            let _ = rep;
            return Err(BuildError::Make {
                target: target.to_string(),
                status: status
                    .code()
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "signal".into()),
                log: log.to_path_buf(),
                first_errors: first,
            });
        }
        Ok(compiled)
    }
}

/// `state.json` next to the live object directory: which baseline the live object directory holds, and
/// whether it has been built on since (patched, or a build in progress).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveState {
    pub baseline: Option<String>,
    pub dirty: bool,
}

impl LiveState {
    fn path(obj: &Path) -> PathBuf {
        obj.with_file_name("state.json")
    }
    /// A missing or unreadable state is "dirty, unknown baseline": the
    /// directory is rebuilt from scratch if it exists.
    pub fn load(obj: &Path) -> LiveState {
        match fs::read_to_string(Self::path(obj))
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
        {
            Some(s) => s,
            None => LiveState {
                baseline: None,
                dirty: obj.exists(),
            },
        }
    }
    pub fn save(&self, obj: &Path) -> Result<(), BuildError> {
        let p = Self::path(obj);
        fs::write(&p, serde_json::to_string(self).expect("serializes"))
            .map_err(io_err(format!("writing {}", p.display())))
    }
}

fn cp_a(from: &Path, to: &Path) -> Result<(), BuildError> {
    let st = Command::new("cp")
        .arg("-a")
        .arg("--reflink=auto")
        .arg(from)
        .arg(to)
        .status()
        .map_err(io_err("running cp"))?;
    if !st.success() {
        return Err(BuildError::Cache(format!(
            "copying {} to {} failed",
            from.display(),
            to.display()
        )));
    }
    Ok(())
}

/// Replaces `live` with a copy of `snapshot` (timestamps kept).
fn restore_snapshot(snapshot: &Path, live: &Path) -> Result<(), BuildError> {
    if !snapshot.is_dir() {
        return Err(BuildError::Cache(format!(
            "baseline object snapshot {} is missing (remove the baseline build dir to rebuild it)",
            snapshot.display()
        )));
    }
    let _ = fs::remove_dir_all(live);
    cp_a(snapshot, live)
}

/// Saves a copy of `live` as `snapshot` (timestamps kept).
fn take_snapshot(live: &Path, snapshot: &Path) -> Result<(), BuildError> {
    let mut tmp = snapshot.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = fs::remove_dir_all(&tmp);
    cp_a(live, &tmp)?;
    let _ = fs::remove_dir_all(snapshot);
    fs::rename(&tmp, snapshot).map_err(io_err(format!("renaming {}", tmp.display())))
}

/// `  CC      mm/memory.o` → `CC mm/memory.o`.
fn step_of(line: &str) -> Option<String> {
    let t = line.strip_prefix("  ")?;
    let (verb, rest) = t.split_once(' ')?;
    if verb.is_empty()
        || !verb
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return None;
    }
    let what = rest.trim();
    (!what.is_empty()).then(|| format!("{verb} {what}"))
}

/// The first compiler/linker errors of a build log, each with the lines gcc
/// prints under it, at most `max` lines.
pub fn first_errors(log: &str, max: usize) -> Vec<String> {
    let is_err = |l: &str| {
        l.contains(": error:")
            || l.contains(": fatal error:")
            || l.contains("undefined reference to")
            || l.contains("Error: ")
            || l.contains(": undefined symbol")
    };
    let lines: Vec<&str> = log.lines().collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < lines.len() && out.len() < max {
        if is_err(lines[i]) {
            out.push(lines[i].to_string());
            // gcc's source excerpt and caret lines follow, indented or `  |`.
            let mut j = i + 1;
            while j < lines.len() && j <= i + 3 && out.len() < max {
                let l = lines[j];
                if is_err(l) || l.starts_with("make") || l.starts_with("  CC") {
                    break;
                }
                if l.starts_with(' ') || l.contains(" | ") {
                    out.push(l.to_string());
                }
                j += 1;
            }
            i = j;
        } else {
            i += 1;
        }
    }
    if out.is_empty() {
        out = lines
            .iter()
            .filter(|l| l.contains("***"))
            .take(max)
            .map(|l| l.to_string())
            .collect();
    }
    out
}

struct Progress {
    tty: bool,
    start: Instant,
    last: Instant,
    target: String,
    drawn: bool,
}

impl Progress {
    fn new(tty: bool, target: &str) -> Progress {
        let now = Instant::now();
        Progress {
            tty,
            start: now,
            last: now - Duration::from_secs(1),
            target: target.to_string(),
            drawn: false,
        }
    }
    fn update(&mut self, what: &str, compiled: usize) {
        if !self.tty || self.last.elapsed() < Duration::from_millis(200) {
            return;
        }
        self.last = Instant::now();
        let e = self.start.elapsed().as_secs();
        let mut line = format!(
            "[{:>2}:{:02}] make {}: {} ({} compiled)",
            e / 60,
            e % 60,
            self.target,
            what,
            compiled
        );
        line.truncate(110);
        eprint!("\r\x1b[K{line}");
        let _ = std::io::stderr().flush();
        self.drawn = true;
    }
    fn finish(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[K");
            let _ = std::io::stderr().flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_depend_on_every_part() {
        let k = cache_key("tree1", None, "cfg1");
        assert_eq!(k.len(), 20);
        assert_eq!(k, cache_key("tree1", None, "cfg1"));
        let others = [
            cache_key("tree2", None, "cfg1"),
            cache_key("tree1", Some("s1"), "cfg1"),
            cache_key("tree1", Some("s2"), "cfg1"),
            cache_key("tree1", None, "cfg2"),
            // "none" as a series hash is not the same as no series
            cache_key("tree1", Some("none "), "cfg1"),
        ];
        for o in &others {
            assert_ne!(&k, o);
        }
        let mut all: Vec<&String> = others.iter().collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), others.len());
        // No ambiguity from concatenation.
        assert_ne!(cache_key("ab", None, "c"), cache_key("a", None, "bc"));
    }

    #[test]
    fn make_steps_are_recognized() {
        assert_eq!(
            step_of("  CC      mm/memory.o"),
            Some("CC mm/memory.o".into())
        );
        assert_eq!(step_of("  LD      vmlinux.o"), Some("LD vmlinux.o".into()));
        assert_eq!(
            step_of("  HOSTCC  scripts/basic/fixdep"),
            Some("HOSTCC scripts/basic/fixdep".into())
        );
        assert_eq!(step_of("mm/memory.c:12:1: error: x"), None);
        assert_eq!(step_of("make[1]: Entering directory"), None);
        assert_eq!(step_of("  "), None);
    }

    #[test]
    fn first_errors_of_a_failed_build() {
        let log = "\
  CC      mm/mmap.o
  CC      mm/memory.o
mm/memory.c: In function 'do_fault':
mm/memory.c:5123:9: error: 'vmf_bogus' undeclared (first use in this function)
 5123 |         vmf_bogus = 1;
      |         ^~~~~~~~~
mm/memory.c:5123:9: note: each undeclared identifier is reported only once
mm/memory.c:5200:2: error: expected ';' before '}' token
 5200 |  return 0
      |          ^
make[4]: *** [scripts/Makefile.build:229: mm/memory.o] Error 1
make[3]: *** [scripts/Makefile.build:478: mm] Error 2
";
        let e = first_errors(log, 20);
        assert_eq!(
            e,
            vec![
                "mm/memory.c:5123:9: error: 'vmf_bogus' undeclared (first use in this function)",
                " 5123 |         vmf_bogus = 1;",
                "      |         ^~~~~~~~~",
                "mm/memory.c:5200:2: error: expected ';' before '}' token",
                " 5200 |  return 0",
                "      |          ^",
            ]
        );
        assert_eq!(first_errors(log, 2).len(), 2);
        let link = "  LD      vmlinux\nld: mm/memory.o: in function `f':\nmemory.c:(.text+0x1): undefined reference to `g'\nmake[2]: *** [vmlinux] Error 1\n";
        assert_eq!(
            first_errors(link, 20),
            vec!["memory.c:(.text+0x1): undefined reference to `g'"]
        );
        let other = "something\nmake[1]: *** [Makefile:1] Error 2\n";
        assert_eq!(
            first_errors(other, 20),
            vec!["make[1]: *** [Makefile:1] Error 2"]
        );
    }

    #[test]
    fn exit_codes() {
        let make = |t: &str| BuildError::Make {
            target: t.into(),
            status: "2".into(),
            log: "l".into(),
            first_errors: vec![],
        };
        assert_eq!(make("bzImage").exit_code(), 1);
        assert_eq!(make("tinyconfig").exit_code(), 3);
        assert_eq!(
            BuildError::Dropped {
                dropped: vec![],
                config: "c".into()
            }
            .exit_code(),
            2
        );
        assert_eq!(BuildError::Tree(tree::TreeError::Empty).exit_code(), 2);
        assert_eq!(
            BuildError::ToolMissing {
                tool: "make".into(),
                hint: "".into()
            }
            .exit_code(),
            3
        );
    }
}
