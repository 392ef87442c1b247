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
//!
//! Stages: this file (cache keys, the cache, the baseline a series needs,
//! `--config-only`) → [`one`] (one build: sync, patch, objects, config,
//! compile, record) → [`make`] (make's command line, log and errors) and
//! [`objects`] (live object tree and baseline snapshots); the types they
//! share (request, result, errors with their exit codes) are in [`model`].

mod make;
mod model;
mod objects;
mod one;

pub use make::first_errors;
pub use model::{
    Build, BuildError, BuildMeta, BuildRequest, ProgressMode, Reporter, SeriesMeta, StageSecs,
    StderrReporter, ARCH, BASE_CONFIG,
};
pub use objects::LiveState;

use model::{io_err, write_meta, Ctx};

use crate::cache::Cache;
use crate::config::{self, Dropped, Merged};
use crate::patches;
use crate::process;
use crate::tree::{self, Tree};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
        if !process::have(tool) {
            return Err(BuildError::ToolMissing {
                tool: tool.to_string(),
                hint: format!("{hint} (scripts/setup.sh does)"),
            });
        }
    }
    Ok(())
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
