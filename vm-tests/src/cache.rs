//! Where the harness keeps things. Everything lives under one cache root at
//! fixed paths, so ccache and make's timestamps stay valid from run to run:
//!
//! ```text
//! $MMSTALL_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/mmstall)
//!   src/linux-source-6.12/      Debian's tree, unpacked by scripts/setup.sh (read-only)
//!   work/<tree-slug>/src/       scratch copy of a tree that builds use (patched in place, restored)
//!   work/<tree-slug>/manifest   what the last sync left there
//!   work/<tree-slug>.lock       one build per scratch copy at a time
//!   builds/live-<tree-slug>-<cfg>/obj/  make O= directory of every build of that tree+config
//!   builds/live-<tree-slug>-<cfg>/state.json  which baseline it holds, and whether patched
//!   builds/<key>/bzImage, config, build.log, meta.json
//!   builds/<key>/obj/           baseline builds: snapshot of the object tree
//!   ccache/                     CCACHE_DIR
//!   runs/<stamp>/               one directory per `vm run`
//!   kvm-probe.json              last KVM probe result (per host boot)
//! ```

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Cache {
    pub root: PathBuf,
}

/// The cache root from the three variables, the rule of scripts/setup.sh
/// (`${MMSTALL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmstall}`): an empty
/// variable counts as unset. None when none of them is set.
///
/// The one resolver of the workspace: the harness ([`Cache::from_env`]), the
/// CLI (`debian:` trees of `lint`) and nightly all go through it.
pub fn root_from_vars(
    mmstall: Option<PathBuf>,
    xdg: Option<PathBuf>,
    home: Option<PathBuf>,
) -> Option<PathBuf> {
    let nonempty = |p: Option<PathBuf>| p.filter(|p| !p.as_os_str().is_empty());
    if let Some(p) = nonempty(mmstall) {
        Some(p)
    } else if let Some(x) = nonempty(xdg) {
        Some(x.join("mmstall"))
    } else {
        nonempty(home).map(|h| h.join(".cache").join("mmstall"))
    }
}

/// [`root_from_vars`] over this process's environment.
pub fn root_from_env() -> Option<PathBuf> {
    root_from_vars(
        std::env::var_os("MMSTALL_CACHE").map(PathBuf::from),
        std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    )
}

/// The cache root for callers that only need a path (the CLI's `debian:`
/// trees, nightly): [`root_from_env`], or `.cache/mmstall` under the current
/// directory when not even HOME is set.
pub fn root_or_default() -> PathBuf {
    root_from_env().unwrap_or_else(|| PathBuf::from(".cache").join("mmstall"))
}

impl Cache {
    /// `MMSTALL_CACHE`, else `$XDG_CACHE_HOME/mmstall`, else `$HOME/.cache/mmstall`
    /// (the same rule as scripts/setup.sh; see [`root_from_vars`]).
    pub fn from_env() -> Result<Cache, String> {
        Self::from_vars(
            std::env::var_os("MMSTALL_CACHE").map(PathBuf::from),
            std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from),
            std::env::var_os("HOME").map(PathBuf::from),
        )
    }

    /// [`root_from_vars`], which must give an absolute path.
    pub fn from_vars(
        mmstall: Option<PathBuf>,
        xdg: Option<PathBuf>,
        home: Option<PathBuf>,
    ) -> Result<Cache, String> {
        let Some(root) = root_from_vars(mmstall, xdg, home) else {
            return Err("cannot find a cache directory: set MMSTALL_CACHE or HOME".into());
        };
        if !root.is_absolute() {
            return Err(format!(
                "cache directory {} must be an absolute path",
                root.display()
            ));
        }
        Ok(Cache { root })
    }

    pub fn at(root: &Path) -> Cache {
        Cache {
            root: root.to_path_buf(),
        }
    }

    pub fn debian_src(&self, version: &str) -> PathBuf {
        self.root
            .join("src")
            .join(format!("linux-source-{version}"))
    }
    pub fn scratch_src(&self, slug: &str) -> PathBuf {
        self.root.join("work").join(slug).join("src")
    }
    /// What the last synchronization left in the scratch copy.
    pub fn scratch_manifest(&self, slug: &str) -> PathBuf {
        self.root.join("work").join(slug).join("manifest")
    }
    /// The object directory every build of this tree with this config runs make
    /// in (a fixed path: objtool and the tools record absolute paths, so an
    /// object tree only stays valid where it was built).
    /// It sits at the same depth as `builds/<key>/obj` so that ccache (with
    /// the cache root as base directory) sees the same relative paths.
    pub fn live_obj(&self, slug: &str, config_hash: &str) -> PathBuf {
        self.builds()
            .join(format!(
                "live-{slug}-{}",
                &config_hash[..config_hash.len().min(16)]
            ))
            .join("obj")
    }
    pub fn scratch_lock(&self, slug: &str) -> PathBuf {
        self.root.join("work").join(format!("{slug}.lock"))
    }
    pub fn builds(&self) -> PathBuf {
        self.root.join("builds")
    }
    pub fn build_dir(&self, key: &str) -> PathBuf {
        self.builds().join(key)
    }
    pub fn ccache(&self) -> PathBuf {
        self.root.join("ccache")
    }
    pub fn runs(&self) -> PathBuf {
        self.root.join("runs")
    }
    pub fn kvm_probe(&self) -> PathBuf {
        self.root.join("kvm-probe.json")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_root_precedence() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(
            Cache::from_vars(p("/c"), p("/x"), p("/h")).unwrap().root,
            PathBuf::from("/c")
        );
        assert_eq!(
            Cache::from_vars(None, p("/x"), p("/h")).unwrap().root,
            PathBuf::from("/x/mmstall")
        );
        assert_eq!(
            Cache::from_vars(p(""), None, p("/h")).unwrap().root,
            PathBuf::from("/h/.cache/mmstall")
        );
        assert!(Cache::from_vars(None, None, None).is_err());
        assert!(Cache::from_vars(p("rel"), None, None).is_err());
        let c = Cache::at(Path::new("/c"));
        assert_eq!(
            c.scratch_src("debian-6.12"),
            PathBuf::from("/c/work/debian-6.12/src")
        );
        assert_eq!(c.build_dir("k"), PathBuf::from("/c/builds/k"));
    }

    #[test]
    fn an_empty_variable_counts_as_unset() {
        let p = |s: &str| Some(PathBuf::from(s));
        // Empty MMSTALL_CACHE: the default, as scripts/setup.sh's `${MMSTALL_CACHE:-...}`.
        assert_eq!(root_from_vars(p(""), None, p("/h")), p("/h/.cache/mmstall"));
        assert_eq!(root_from_vars(p(""), p("/x"), p("/h")), p("/x/mmstall"));
        // Empty XDG_CACHE_HOME too.
        assert_eq!(root_from_vars(None, p(""), p("/h")), p("/h/.cache/mmstall"));
        assert_eq!(root_from_vars(p(""), p(""), p("")), None);
        assert_eq!(root_from_vars(None, None, None), None);
        assert!(Cache::from_vars(p(""), p(""), p("")).is_err());
        // Set: MMSTALL_CACHE wins, as is.
        assert_eq!(root_from_vars(p("/c"), p("/x"), p("/h")), p("/c"));
        assert_eq!(
            Cache::from_vars(p(""), None, p("/h")).unwrap().root,
            PathBuf::from("/h/.cache/mmstall")
        );
    }
}
