//! Building `tools/testing/selftests/mm` from the same tree as the kernel
//! under test, cached like kernel builds.
//!
//! Layout: `$MMSTALL_CACHE/kselftest/mm-<key>/` with `bin/` (the test
//! binaries), `hdr/usr/include` (the tree's UAPI headers, `make headers`),
//! `src/` (the private copy the selftests are compiled in), `make.log` and
//! `meta.json` (written last: a directory without it is not a build). The key
//! is a digest of the tree identity (the same digest kernel builds use, so a
//! kernel's `meta.json` finds its selftests without walking the tree) and
//! [`BUILDER`].
//!
//! The user's tree is never written: under the scratch-copy lock the scratch
//! copy is synchronized from the tree, `make O=<cache>/hdr headers` runs on
//! it (the object directory is in the cache), and the few directories the
//! selftests compile from (`tools/testing/selftests/{mm,x86,kselftest}`,
//! `lib.mk`, `kselftest*.h`, `tools/include`, `mm/gup_test.h`,
//! `lib/test_hmm_uapi.h`, `include/vdso`) are copied into `src/`; the
//! lock is then released and `make -k` compiles there (the mm Makefile
//! writes `local_config.{h,mk}` into its own directory). A binary that does not
//! compile (6.12.118's `khugepaged.c` uses `KSFT_SKIP` without including
//! kselftest.h) is recorded with its first compiler error; the others are
//! usable.

use crate::cache::Cache;
use crate::tree::{self, TreeSpec};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Bumped when the way selftests are built changes (a new cache key).
pub const BUILDER: &str = "mmstall-kselftest-mm-1";

/// Paths copied from the tree into the private source copy.
const COPY: &[&str] = &[
    "tools/testing/selftests/lib.mk",
    "tools/testing/selftests/kselftest.h",
    "tools/testing/selftests/kselftest_harness.h",
    "tools/testing/selftests/kselftest",
    "tools/testing/selftests/mm",
    "tools/testing/selftests/x86",
    "tools/include",
    "mm/gup_test.h",
    "lib/test_hmm_uapi.h",
    "include/vdso",
];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NotBuilt {
    pub binary: String,
    /// The first compiler or linker error naming it (or why it is missing).
    pub error: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SelftestMeta {
    pub builder: String,
    pub tree: String,
    pub tree_identity: String,
    pub kernel_version: String,
    /// Binaries that exist in `bin/`.
    pub built: Vec<String>,
    /// Binaries of the Makefile's list that did not compile.
    pub not_built: Vec<NotBuilt>,
    pub secs_sync: f64,
    pub secs_headers: f64,
    pub secs_make: f64,
    pub secs_total: f64,
}

#[derive(Debug, Clone)]
pub struct SelftestBuild {
    pub dir: PathBuf,
    pub bin: PathBuf,
    pub meta: SelftestMeta,
    pub cached: bool,
}

impl SelftestBuild {
    /// Why `binary` cannot run, when it was not built.
    pub fn not_built(&self, binary: &str) -> Option<String> {
        if self.meta.built.iter().any(|b| b == binary) {
            return None;
        }
        Some(
            self.meta
                .not_built
                .iter()
                .find(|n| n.binary == binary)
                .map(|n| n.error.clone())
                .unwrap_or_else(|| format!("{binary} is not built by this tree's mm Makefile")),
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KselftestBuildError {
    #[error(transparent)]
    Tree(#[from] tree::TreeError),
    #[error("{tool} not found: {hint} (scripts/setup.sh installs it)")]
    ToolMissing { tool: String, hint: String },
    #[error("`make headers` failed for {tree} (log: {log}): {first}")]
    Headers {
        tree: String,
        log: PathBuf,
        first: String,
    },
    #[error("no mm selftest was built from {tree} (log: {log}): {first}")]
    NothingBuilt {
        tree: String,
        log: PathBuf,
        first: String,
    },
    #[error("{context}: {error}")]
    Io {
        context: String,
        error: std::io::Error,
    },
}

impl KselftestBuildError {
    /// The CLI's exit code: 2 bad input (no such tree), 3 infrastructure.
    pub fn exit_code(&self) -> i32 {
        match self {
            KselftestBuildError::Tree(tree::TreeError::Io { .. })
            | KselftestBuildError::Tree(tree::TreeError::LockTimeout { .. }) => 3,
            KselftestBuildError::Tree(_) => 2,
            _ => 3,
        }
    }
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> KselftestBuildError {
    let context = context.into();
    move |error| KselftestBuildError::Io { context, error }
}

/// Cache directory of the mm selftests of a tree with this identity.
pub fn dir_for(cache: &Cache, tree_identity: &str) -> PathBuf {
    let mut h = Sha256::new();
    h.update(BUILDER.as_bytes());
    h.update([0]);
    h.update(tree_identity.as_bytes());
    let key = hex::encode(h.finalize());
    cache
        .root
        .join("kselftest")
        .join(format!("mm-{}", &key[..20]))
}

/// A finished build in `dir`, if there is one.
pub fn cached(dir: &Path) -> Option<SelftestBuild> {
    let meta: SelftestMeta =
        serde_json::from_str(&fs::read_to_string(dir.join("meta.json")).ok()?).ok()?;
    if meta.builder != BUILDER {
        return None;
    }
    let bin = dir.join("bin");
    // Every binary it claims must still be there.
    if !meta.built.iter().all(|b| bin.join(b).is_file()) {
        return None;
    }
    Some(SelftestBuild {
        dir: dir.to_path_buf(),
        bin,
        meta,
        cached: true,
    })
}

/// The mm selftests of `spec`, from the cache or built now. With
/// `known_identity` (a kernel build's `tree_identity`), a cached build is
/// found without walking the tree. `note` gets progress lines.
pub fn ensure(
    cache: &Cache,
    spec: &TreeSpec,
    known_identity: Option<&str>,
    jobs: usize,
    note: &mut dyn FnMut(&str),
) -> Result<SelftestBuild, KselftestBuildError> {
    if let Some(id) = known_identity {
        if let Some(b) = cached(&dir_for(cache, id)) {
            return Ok(b);
        }
    }
    for (tool, hint) in [
        ("make", "install build-essential"),
        ("gcc", "install build-essential"),
    ] {
        if !have_tool(tool) {
            return Err(KselftestBuildError::ToolMissing {
                tool: tool.into(),
                hint: hint.into(),
            });
        }
    }
    let total = Instant::now();
    let tree = tree::resolve(spec, cache)?;
    let lock_path = cache.scratch_lock(&tree.slug);
    let lock = tree::ScratchLock::acquire(&lock_path, Duration::from_secs(3 * 3600), |pid| {
        note(&format!(
            "kselftest: waiting for a build (pid {pid}) using {}",
            lock_path.display()
        ))
    })?;
    let t = Instant::now();
    let walk = tree::walk(&tree.origin)?;
    let identity = tree::identity(&walk);
    if let Some(id) = known_identity {
        if id != identity {
            note(&format!(
                "kselftest: warning: {} changed since the kernel was built; building its current selftests",
                tree.spec
            ));
        }
    }
    let dir = dir_for(cache, &identity);
    if let Some(b) = cached(&dir) {
        return Ok(b);
    }
    note(&format!(
        "kselftest: building tools/testing/selftests/mm of {} {} in {}",
        tree.spec,
        tree.version,
        dir.display()
    ));
    let scratch = cache.scratch_src(&tree.slug);
    tree::sync(
        &tree.origin,
        &walk,
        &scratch,
        &cache.scratch_manifest(&tree.slug),
    )?;
    let secs_sync = t.elapsed().as_secs_f64();

    // A fresh directory next to the final one, renamed when complete.
    let work = dir.with_extension(format!("tmp-{}", std::process::id()));
    if work.exists() {
        fs::remove_dir_all(&work).map_err(io_err(format!("removing {}", work.display())))?;
    }
    fs::create_dir_all(work.join("bin")).map_err(io_err(format!("creating {}", work.display())))?;
    let t = Instant::now();
    let hdr_log = work.join("headers.log");
    let ok = run_logged(
        Command::new("make")
            .arg("-C")
            .arg(&scratch)
            .arg(format!("O={}", work.join("hdr").display()))
            .arg("ARCH=x86_64")
            .arg(format!("-j{jobs}"))
            .arg("headers"),
        &hdr_log,
    )?;
    if !ok {
        let log = fs::read_to_string(&hdr_log).unwrap_or_default();
        return Err(KselftestBuildError::Headers {
            tree: tree.spec.to_string(),
            log: hdr_log,
            first: first_error(&log).unwrap_or_else(|| "make exited non-zero".into()),
        });
    }
    let secs_headers = t.elapsed().as_secs_f64();
    let src = work.join("src");
    for rel in COPY {
        let from = scratch.join(rel);
        if !from.exists() {
            continue; // older trees lack some (e.g. include/vdso before 5.x)
        }
        let to = src.join(rel);
        let parent = to.parent().expect("relative path has a parent");
        fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
        let st = Command::new("cp")
            .arg("-a")
            .arg(&from)
            .arg(&to)
            .status()
            .map_err(io_err("running cp"))?;
        if !st.success() {
            return Err(KselftestBuildError::Io {
                context: format!("copying {} to {}", from.display(), to.display()),
                error: std::io::Error::other("cp failed"),
            });
        }
    }
    drop(lock); // the rest only reads the private copy

    let mm = src.join("tools/testing/selftests/mm");
    if !mm.join("Makefile").is_file() {
        return Err(KselftestBuildError::NothingBuilt {
            tree: tree.spec.to_string(),
            log: work.clone(),
            first: "the tree has no tools/testing/selftests/mm/Makefile".into(),
        });
    }
    let t = Instant::now();
    let make_log = work.join("make.log");
    run_logged(
        Command::new("make")
            .arg("-C")
            .arg(&mm)
            .arg("-k")
            .arg(format!("-j{jobs}"))
            .arg(format!("OUTPUT={}", work.join("bin").display()))
            .arg(format!(
                "KHDR_INCLUDES=-isystem {}",
                work.join("hdr/usr/include").display()
            )),
        &make_log,
    )?;
    let secs_make = t.elapsed().as_secs_f64();
    let log = fs::read_to_string(&make_log).unwrap_or_default();
    let wanted = makefile_targets(&mm);
    let mut built = Vec::new();
    let mut not_built = Vec::new();
    for b in &wanted {
        if work.join("bin").join(b).is_file() {
            built.push(b.clone());
        } else {
            not_built.push(NotBuilt {
                binary: b.clone(),
                error: error_for(&log, b),
            });
        }
    }
    if built.is_empty() {
        return Err(KselftestBuildError::NothingBuilt {
            tree: tree.spec.to_string(),
            log: make_log,
            first: first_error(&log).unwrap_or_else(|| "no binary in the output".into()),
        });
    }
    let meta = SelftestMeta {
        builder: BUILDER.into(),
        tree: tree.spec.to_string(),
        tree_identity: identity,
        kernel_version: tree.version.clone(),
        built,
        not_built,
        secs_sync,
        secs_headers,
        secs_make,
        secs_total: total.elapsed().as_secs_f64(),
    };
    let text = serde_json::to_string_pretty(&meta).expect("meta serializes") + "\n";
    fs::write(work.join("meta.json"), text).map_err(io_err("writing meta.json"))?;
    // The headers' object directory is only needed to compile.
    let _ = fs::remove_dir_all(work.join("hdr/scripts"));
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(io_err(format!("removing {}", dir.display())))?;
    }
    fs::rename(&work, &dir).map_err(io_err(format!("renaming {}", work.display())))?;
    note(&format!(
        "kselftest: built {} mm selftests ({} did not compile) in {:.0} s (headers {:.0} s, make {:.0} s)",
        meta.built.len(),
        meta.not_built.len(),
        meta.secs_total,
        meta.secs_headers,
        meta.secs_make
    ));
    Ok(SelftestBuild {
        bin: dir.join("bin"),
        dir,
        meta,
        cached: false,
    })
}

fn have_tool(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false)
}

/// Runs a command with stdout and stderr into `log`; whether it succeeded.
fn run_logged(cmd: &mut Command, log: &Path) -> Result<bool, KselftestBuildError> {
    let f = fs::File::create(log).map_err(io_err(format!("creating {}", log.display())))?;
    let f2 = f.try_clone().map_err(io_err("duplicating a log handle"))?;
    let st = cmd
        .stdin(Stdio::null())
        .stdout(f)
        .stderr(f2)
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .status()
        .map_err(io_err("running make"))?;
    Ok(st.success())
}

/// `TEST_GEN_FILES` of the mm Makefile as make evaluates it (x86_64).
fn makefile_targets(mm: &Path) -> Vec<String> {
    let out = Command::new("make")
        .arg("-C")
        .arg(mm)
        .arg("-s")
        .arg("--no-print-directory")
        .arg("-f")
        .arg("Makefile")
        .arg("-f")
        .arg("-")
        .arg("mmstall-print-targets")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .env_remove("MAKEFLAGS")
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            if let Some(mut i) = c.stdin.take() {
                let _ = i.write_all(
                    b"mmstall-print-targets:\n\t@echo $(notdir $(TEST_GEN_FILES) $(TEST_GEN_PROGS))\n",
                );
            }
            c.wait_with_output()
        });
    let mut v: Vec<String> = match out {
        Ok(o) => String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v.dedup();
    v
}

/// The first `error:` line of a log (with the line before when it names the file).
pub fn first_error(log: &str) -> Option<String> {
    log.lines()
        .find(|l| l.contains("error:") || l.contains("Error "))
        .map(|l| l.trim().to_string())
}

/// The first error about `binary` (its `.c` file, or the link step).
pub fn error_for(log: &str, binary: &str) -> String {
    let src = format!("{binary}.c:");
    let out = format!("/{binary}]");
    log.lines()
        .find(|l| l.starts_with(&src) && l.contains("error"))
        .or_else(|| {
            log.lines()
                .find(|l| l.contains(&out) && l.contains("Error"))
        })
        .map(|l| l.trim().to_string())
        .unwrap_or_else(|| format!("{binary} was not built (see make.log)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_attributed_to_their_binary() {
        let log = "  CC       khugepaged\nkhugepaged.c: In function 'main':\nkhugepaged.c:1195:24: error: 'KSFT_SKIP' undeclared (first use in this function)\nmake: *** [../lib.mk:221: /c/bin/khugepaged] Error 1\n/usr/bin/ld: cannot find -lnuma\nmake: *** [../lib.mk:222: /c/bin/ksm_tests] Error 1\n";
        assert_eq!(
            error_for(log, "khugepaged"),
            "khugepaged.c:1195:24: error: 'KSFT_SKIP' undeclared (first use in this function)"
        );
        assert_eq!(
            error_for(log, "ksm_tests"),
            "make: *** [../lib.mk:222: /c/bin/ksm_tests] Error 1"
        );
        assert_eq!(error_for(log, "cow"), "cow was not built (see make.log)");
        assert!(first_error(log).unwrap().contains("KSFT_SKIP"));
        assert_eq!(first_error("all fine\n"), None);
    }

    #[test]
    fn keys_follow_identity_and_builder() {
        let c = Cache::at(Path::new("/c"));
        assert_eq!(dir_for(&c, "a"), dir_for(&c, "a"));
        assert_ne!(dir_for(&c, "a"), dir_for(&c, "b"));
        assert!(dir_for(&c, "a").starts_with("/c/kselftest"));
    }

    #[test]
    fn a_directory_without_meta_or_with_missing_binaries_is_not_cached() {
        let d = tempfile::tempdir().unwrap();
        assert!(cached(d.path()).is_none());
        let meta = SelftestMeta {
            builder: BUILDER.into(),
            tree: "debian:6.12".into(),
            tree_identity: "x".into(),
            kernel_version: "6.12.118".into(),
            built: vec!["mlock2-tests".into()],
            not_built: vec![],
            secs_sync: 0.0,
            secs_headers: 0.0,
            secs_make: 0.0,
            secs_total: 0.0,
        };
        fs::write(
            d.path().join("meta.json"),
            serde_json::to_string(&meta).unwrap(),
        )
        .unwrap();
        assert!(cached(d.path()).is_none(), "binary missing");
        fs::create_dir_all(d.path().join("bin")).unwrap();
        fs::write(d.path().join("bin/mlock2-tests"), "").unwrap();
        let b = cached(d.path()).unwrap();
        assert_eq!(b.not_built("mlock2-tests"), None);
        assert!(b.not_built("cow").unwrap().contains("not built"));
        fs::write(d.path().join("meta.json"), "{broken").unwrap();
        assert!(cached(d.path()).is_none());
    }
}
