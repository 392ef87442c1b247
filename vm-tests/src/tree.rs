//! Kernel source trees: `--tree PATH` or `debian:6.12`, their identity (a
//! digest of every file's path, size, mode and mtime), and the scratch copy that
//! builds compile from.
//!
//! The user's tree is never written. Builds use a scratch copy at a fixed path
//! per tree (`work/<slug>/src`), synchronized from the tree before every build
//! (only changed files are copied, with their mtimes), so ccache and make see the
//! same paths and timestamps every time. Patches are applied onto the scratch
//! copy in place; the next synchronization restores it.

use crate::cache::Cache;
use sha2::{Digest, Sha256};
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeSpec {
    /// Debian's `linux-source-<version>`, unpacked into the cache by setup.sh.
    Debian(String),
    Path(PathBuf),
}

impl TreeSpec {
    pub fn parse(s: &str) -> Result<TreeSpec, TreeError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(TreeError::Empty);
        }
        if let Some(v) = s.strip_prefix("debian:") {
            let ok = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.');
            if !ok {
                return Err(TreeError::BadDebianVersion(v.to_string()));
            }
            return Ok(TreeSpec::Debian(v.to_string()));
        }
        Ok(TreeSpec::Path(PathBuf::from(s)))
    }
}

impl std::fmt::Display for TreeSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TreeSpec::Debian(v) => write!(f, "debian:{v}"),
            TreeSpec::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("empty --tree")]
    Empty,
    #[error("bad Debian version `{0}` in --tree debian:VERSION (expected e.g. debian:6.12)")]
    BadDebianVersion(String),
    #[error("Debian kernel tree {0} is missing: run scripts/setup.sh (it installs linux-source-6.12 and unpacks it there)")]
    DebianMissing(PathBuf),
    #[error("--tree {0}: no such directory")]
    NotFound(PathBuf),
    #[error("--tree {path}: not a Linux kernel source tree ({why})")]
    NotKernel { path: PathBuf, why: String },
    #[error("{context}: {error}")]
    Io { context: String, error: io::Error },
    #[error("scratch copy {path} is locked by process {pid} and did not become free within {secs} s")]
    LockTimeout { path: PathBuf, pid: u32, secs: u64 },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> TreeError {
    let context = context.into();
    move |error| TreeError::Io { context, error }
}

/// A resolved tree.
#[derive(Debug, Clone)]
pub struct Tree {
    pub spec: TreeSpec,
    /// The tree itself (read only).
    pub origin: PathBuf,
    /// Name of its scratch copy: `debian-6.12` or `tree-<hash of the path>`.
    pub slug: String,
    /// `VERSION.PATCHLEVEL.SUBLEVEL` from the top Makefile.
    pub version: String,
}

pub fn resolve(spec: &TreeSpec, cache: &Cache) -> Result<Tree, TreeError> {
    let (origin, slug) = match spec {
        TreeSpec::Debian(v) => {
            let p = cache.debian_src(v);
            if !p.is_dir() {
                return Err(TreeError::DebianMissing(p));
            }
            (p, format!("debian-{v}"))
        }
        TreeSpec::Path(p) => {
            if !p.is_dir() {
                return Err(TreeError::NotFound(p.clone()));
            }
            let canon = p.canonicalize().map_err(io_err(format!("resolving {}", p.display())))?;
            let digest = hex::encode(Sha256::digest(canon.as_os_str().as_encoded_bytes()));
            (canon, format!("tree-{}", &digest[..12]))
        }
    };
    let version = kernel_version(&origin)?;
    Ok(Tree { spec: spec.clone(), origin, slug, version })
}

/// Reads `VERSION`, `PATCHLEVEL`, `SUBLEVEL` from a kernel's top Makefile and
/// checks the tree has the directories a kernel has.
pub fn kernel_version(root: &Path) -> Result<String, TreeError> {
    let not = |why: &str| TreeError::NotKernel { path: root.to_path_buf(), why: why.to_string() };
    for d in ["mm", "kernel", "arch/x86", "scripts/kconfig"] {
        if !root.join(d).is_dir() {
            return Err(not(&format!("no {d}/ directory")));
        }
    }
    let mk = fs::read_to_string(root.join("Makefile")).map_err(|_| not("no readable top-level Makefile"))?;
    let var = |name: &str| -> Option<String> {
        mk.lines().take(20).find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == name).then(|| v.trim().to_string())
        })
    };
    match (var("VERSION"), var("PATCHLEVEL"), var("SUBLEVEL")) {
        (Some(v), Some(p), Some(s)) if !v.is_empty() && !p.is_empty() => {
            Ok(if s.is_empty() { format!("{v}.{p}") } else { format!("{v}.{p}.{s}") })
        }
        _ => Err(not("top-level Makefile has no VERSION/PATCHLEVEL")),
    }
}

/// What a walk records about one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Meta {
    Dir,
    File { size: u64, mtime: i64, mtime_ns: i64, mode: u32 },
    Symlink(PathBuf),
}

/// Paths (relative to the tree root) that are never part of a tree's identity
/// nor copied: version control, and in-tree build state that would make
/// `make O=` refuse the tree.
const EXCLUDED: &[&str] = &[
    ".git",
    ".config",
    ".config.old",
    "include/config",
    "include/generated",
    "arch/x86/include/generated",
    ".mmstall-unpacked",
];

fn excluded(rel: &Path) -> bool {
    if EXCLUDED.iter().any(|e| rel == Path::new(e)) {
        return true;
    }
    matches!(rel.extension().and_then(|e| e.to_str()), Some("o" | "ko"))
}

/// Every path under `root` (except the excluded ones), sorted.
pub fn walk(root: &Path) -> Result<Vec<(PathBuf, Meta)>, TreeError> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let rd = fs::read_dir(&dir).map_err(io_err(format!("reading {}", dir.display())))?;
        for ent in rd {
            let ent = ent.map_err(io_err(format!("reading {}", dir.display())))?;
            let r = rel.join(ent.file_name());
            if excluded(&r) {
                continue;
            }
            let md = ent.metadata().map_err(io_err(format!("stat {}", root.join(&r).display())))?;
            let ft = md.file_type();
            if ft.is_dir() {
                out.push((r.clone(), Meta::Dir));
                stack.push(r);
            } else if ft.is_symlink() {
                let t = fs::read_link(root.join(&r)).map_err(io_err(format!("readlink {}", root.join(&r).display())))?;
                out.push((r, Meta::Symlink(t)));
            } else if ft.is_file() {
                out.push((
                    r,
                    Meta::File { size: md.size(), mtime: md.mtime(), mtime_ns: md.mtime_nsec(), mode: md.mode() & 0o7777 },
                ));
            }
            // sockets, fifos, devices: not part of a source tree
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Digest of a walk: changes when any file is added, removed, resized, touched
/// or changes mode.
pub fn identity(walk: &[(PathBuf, Meta)]) -> String {
    let mut h = Sha256::new();
    h.update(b"mmstall-tree-v1\0");
    for (p, m) in walk {
        h.update(p.as_os_str().as_encoded_bytes());
        match m {
            Meta::Dir => h.update(b"\0d\n"),
            Meta::File { size, mtime, mtime_ns, mode } => h.update(format!("\0f{size} {mtime}.{mtime_ns} {mode:o}\n")),
            Meta::Symlink(t) => {
                h.update(b"\0l");
                h.update(t.as_os_str().as_encoded_bytes());
                h.update(b"\n");
            }
        }
    }
    hex::encode(h.finalize())
}

#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SyncStats {
    pub copied: usize,
    pub removed: usize,
    pub unchanged: usize,
}

/// Makes `scratch` an exact copy of `origin` (per `origin_walk`): copies files
/// whose size, mode or mtime differ (keeping the origin's mtime), removes
/// paths the origin does not have.
pub fn sync(origin: &Path, origin_walk: &[(PathBuf, Meta)], scratch: &Path) -> Result<SyncStats, TreeError> {
    let mut stats = SyncStats::default();
    fs::create_dir_all(scratch).map_err(io_err(format!("creating {}", scratch.display())))?;
    let have = walk(scratch)?;
    let want: std::collections::HashMap<&Path, &Meta> = origin_walk.iter().map(|(p, m)| (p.as_path(), m)).collect();
    let have_map: std::collections::HashMap<&Path, &Meta> = have.iter().map(|(p, m)| (p.as_path(), m)).collect();

    // Remove what the origin does not have (or has as another kind), deepest first.
    for (p, m) in have.iter().rev() {
        let keep = match (want.get(p.as_path()), m) {
            (Some(Meta::Dir), Meta::Dir) => true,
            (Some(Meta::File { .. }), Meta::File { .. }) => true,
            (Some(Meta::Symlink(_)), Meta::Symlink(_)) => true,
            _ => false,
        };
        if !keep {
            let full = scratch.join(p);
            let r = if matches!(m, Meta::Dir) { fs::remove_dir_all(&full) } else { fs::remove_file(&full) };
            match r {
                Ok(()) => stats.removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {} // inside a removed dir
                Err(e) => return Err(io_err(format!("removing {}", full.display()))(e)),
            }
        }
    }
    for (p, m) in origin_walk {
        let dst = scratch.join(p);
        match m {
            Meta::Dir => {
                if !matches!(have_map.get(p.as_path()), Some(Meta::Dir)) {
                    fs::create_dir_all(&dst).map_err(io_err(format!("creating {}", dst.display())))?;
                }
            }
            Meta::Symlink(t) => {
                if have_map.get(p.as_path()) == Some(&m) {
                    stats.unchanged += 1;
                    continue;
                }
                let _ = fs::remove_file(&dst);
                std::os::unix::fs::symlink(t, &dst).map_err(io_err(format!("creating symlink {}", dst.display())))?;
                stats.copied += 1;
            }
            Meta::File { mtime, mtime_ns, mode, .. } => {
                if have_map.get(p.as_path()) == Some(&m) {
                    stats.unchanged += 1;
                    continue;
                }
                copy_file(&origin.join(p), &dst, *mtime, *mtime_ns, *mode)?;
                stats.copied += 1;
            }
        }
    }
    Ok(stats)
}

fn copy_file(src: &Path, dst: &Path, mtime: i64, mtime_ns: i64, mode: u32) -> Result<(), TreeError> {
    let tmp = dst.with_file_name(format!(
        ".{}.mmstall-tmp",
        dst.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    ));
    fs::copy(src, &tmp).map_err(io_err(format!("copying {} to {}", src.display(), tmp.display())))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode)).map_err(io_err(format!("chmod {}", tmp.display())))?;
    let when = if mtime >= 0 {
        UNIX_EPOCH + Duration::new(mtime as u64, mtime_ns.clamp(0, 999_999_999) as u32)
    } else {
        UNIX_EPOCH
    };
    let f = fs::OpenOptions::new().write(true).open(&tmp).map_err(io_err(format!("opening {}", tmp.display())))?;
    f.set_times(fs::FileTimes::new().set_modified(when).set_accessed(SystemTime::now()))
        .map_err(io_err(format!("setting mtime of {}", tmp.display())))?;
    drop(f);
    fs::rename(&tmp, dst).map_err(io_err(format!("renaming {} to {}", tmp.display(), dst.display())))?;
    Ok(())
}

/// An exclusive lock on a scratch copy: a lock file holding the owner's pid.
/// A lock whose owner is gone is taken over.
pub struct ScratchLock {
    path: PathBuf,
}

impl ScratchLock {
    pub fn acquire(path: &Path, wait: Duration, mut on_wait: impl FnMut(u32)) -> Result<ScratchLock, TreeError> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
        }
        let me = std::process::id();
        let start = std::time::Instant::now();
        let mut told = false;
        loop {
            match fs::OpenOptions::new().write(true).create_new(true).open(path) {
                Ok(mut f) => {
                    use std::io::Write;
                    writeln!(f, "{me}").map_err(io_err(format!("writing {}", path.display())))?;
                    return Ok(ScratchLock { path: path.to_path_buf() });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let owner = fs::read_to_string(path).ok().and_then(|s| s.trim().parse::<u32>().ok());
                    match owner {
                        Some(pid) if pid != me && Path::new(&format!("/proc/{pid}")).exists() => {
                            if start.elapsed() >= wait {
                                return Err(TreeError::LockTimeout { path: path.to_path_buf(), pid, secs: wait.as_secs() });
                            }
                            if !told {
                                on_wait(pid);
                                told = true;
                            }
                            std::thread::sleep(Duration::from_millis(500));
                        }
                        _ => {
                            // Stale (owner gone, or unreadable/half-written): take it over.
                            let _ = fs::remove_file(path);
                        }
                    }
                }
                Err(e) => return Err(io_err(format!("creating lock {}", path.display()))(e)),
            }
        }
    }
}

impl Drop for ScratchLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(p: &Path, s: &str) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, s).unwrap();
    }

    fn fake_kernel(root: &Path) {
        write(&root.join("Makefile"), "# SPDX\nVERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 3\nEXTRAVERSION =\n");
        for d in ["mm", "kernel", "arch/x86", "scripts/kconfig"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        write(&root.join("mm/memory.c"), "int x;\n");
        write(&root.join("mm/mmap.c"), "int y;\n");
        std::os::unix::fs::symlink("memory.c", root.join("mm/link.c")).unwrap();
    }

    #[test]
    fn parses_tree_specs() {
        assert_eq!(TreeSpec::parse("debian:6.12").unwrap(), TreeSpec::Debian("6.12".into()));
        assert_eq!(TreeSpec::parse("/x/linux").unwrap(), TreeSpec::Path("/x/linux".into()));
        assert!(matches!(TreeSpec::parse("debian:"), Err(TreeError::BadDebianVersion(_))));
        assert!(matches!(TreeSpec::parse("debian:../x"), Err(TreeError::BadDebianVersion(_))));
        assert!(matches!(TreeSpec::parse(" "), Err(TreeError::Empty)));
    }

    #[test]
    fn resolves_and_rejects_trees() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::at(&d.path().join("cache"));
        assert!(matches!(resolve(&TreeSpec::Debian("6.12".into()), &cache), Err(TreeError::DebianMissing(_))));
        let k = d.path().join("linux");
        fake_kernel(&k);
        let t = resolve(&TreeSpec::Path(k.clone()), &cache).unwrap();
        assert_eq!(t.version, "6.12.3");
        assert!(t.slug.starts_with("tree-") && t.slug.len() == 17);
        let not = d.path().join("notkernel");
        fs::create_dir_all(&not).unwrap();
        let e = resolve(&TreeSpec::Path(not), &cache).unwrap_err();
        assert!(e.to_string().contains("not a Linux kernel source tree (no mm/ directory)"), "{e}");
        assert!(matches!(resolve(&TreeSpec::Path(d.path().join("nope")), &cache), Err(TreeError::NotFound(_))));
    }

    #[test]
    fn identity_changes_with_content_and_ignores_build_state() {
        let d = tempfile::tempdir().unwrap();
        let k = d.path().join("linux");
        fake_kernel(&k);
        let id0 = identity(&walk(&k).unwrap());
        assert_eq!(id0, identity(&walk(&k).unwrap()));
        // In-tree build state and .git do not count.
        write(&k.join(".config"), "CONFIG_X=y\n");
        write(&k.join(".git/HEAD"), "ref\n");
        write(&k.join("mm/memory.o"), "obj");
        assert_eq!(id0, identity(&walk(&k).unwrap()));
        // A new file and a modified file do.
        write(&k.join("mm/new.c"), "int z;\n");
        let id1 = identity(&walk(&k).unwrap());
        assert_ne!(id0, id1);
        write(&k.join("mm/new.c"), "int zz;\n");
        assert_ne!(id1, identity(&walk(&k).unwrap()));
    }

    #[test]
    fn sync_copies_restores_and_removes() {
        let d = tempfile::tempdir().unwrap();
        let k = d.path().join("linux");
        let s = d.path().join("scratch");
        fake_kernel(&k);
        let w = walk(&k).unwrap();
        let st = sync(&k, &w, &s).unwrap();
        assert_eq!(st.copied, 4); // Makefile, 2 files, 1 symlink
        assert_eq!(walk(&s).unwrap(), w, "scratch is an exact copy, mtimes included");
        // Nothing to do the second time.
        let st = sync(&k, &w, &s).unwrap();
        assert_eq!((st.copied, st.removed, st.unchanged), (0, 0, 4));
        // Patch the scratch copy in place (modify, add, delete), then restore.
        write(&s.join("mm/memory.c"), "int x; /* patched */\n");
        write(&s.join("mm/added/file.c"), "new\n");
        fs::remove_file(s.join("mm/mmap.c")).unwrap();
        let st = sync(&k, &w, &s).unwrap();
        assert_eq!(st.copied, 2);
        assert_eq!(st.removed, 2); // mm/added and mm/added/file.c
        assert_eq!(walk(&s).unwrap(), w);
        assert_eq!(fs::read_to_string(s.join("mm/memory.c")).unwrap(), "int x;\n");
        // The user's tree was not touched.
        assert_eq!(walk(&k).unwrap(), w);
    }

    #[test]
    fn lock_is_exclusive_and_stale_locks_are_taken_over() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("w/x.lock");
        let l = ScratchLock::acquire(&p, Duration::from_secs(1), |_| {}).unwrap();
        assert!(p.exists());
        drop(l);
        assert!(!p.exists());
        // A lock held by a live other process (pid 1) times out.
        fs::write(&p, "1\n").unwrap();
        let mut waited = None;
        let e = ScratchLock::acquire(&p, Duration::from_millis(600), |pid| waited = Some(pid)).err().unwrap();
        assert!(matches!(e, TreeError::LockTimeout { pid: 1, .. }));
        assert_eq!(waited, Some(1));
        // A dead owner's lock is taken over.
        fs::write(&p, "999999999\n").unwrap();
        let _l = ScratchLock::acquire(&p, Duration::from_secs(1), |_| {}).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap().trim(), std::process::id().to_string());
    }
}
