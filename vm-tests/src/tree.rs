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
use std::collections::HashMap;
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

/// `debian:VERSION[/SUB]`: Debian's `linux-source-VERSION` unpacked into the
/// cache by scripts/setup.sh, optionally a path inside it (`lint
/// debian:6.12/mm`). The one parser of the form, shared by the harness
/// (`--tree`), the CLI's `lint` and nightly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebianRef<'a> {
    pub version: &'a str,
    /// Path inside the tree; empty for the tree itself.
    pub sub: &'a str,
}

impl<'a> DebianRef<'a> {
    /// None when `spec` does not start with `debian:`.
    pub fn parse(spec: &'a str) -> Option<DebianRef<'a>> {
        let rest = spec.strip_prefix("debian:")?;
        let (version, sub) = rest.split_once('/').unwrap_or((rest, ""));
        Some(DebianRef { version, sub })
    }

    /// A version is digits and dots (`6.12`): nothing that leaves `src/`.
    pub fn version_ok(&self) -> bool {
        !self.version.is_empty()
            && self
                .version
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.')
    }

    /// The tree (or the path inside it) in `cache`.
    pub fn dir(&self, cache: &Cache) -> PathBuf {
        let tree = cache.debian_src(self.version);
        if self.sub.is_empty() {
            tree
        } else {
            tree.join(self.sub)
        }
    }
}

/// `debian:6.12[/sub]` → its directory in the cache; anything else is a
/// directory given as is.
pub fn spec_dir(cache: &Cache, spec: &str) -> PathBuf {
    match DebianRef::parse(spec) {
        Some(d) => d.dir(cache),
        None => PathBuf::from(spec),
    }
}

impl TreeSpec {
    /// A `--tree`: `debian:VERSION` (no path inside it: a build needs the
    /// whole tree) or a directory.
    pub fn parse(s: &str) -> Result<TreeSpec, TreeError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(TreeError::Empty);
        }
        if let Some(d) = DebianRef::parse(s) {
            if !d.sub.is_empty() || !d.version_ok() {
                let v = &s["debian:".len()..];
                return Err(TreeError::BadDebianVersion(v.to_string()));
            }
            return Ok(TreeSpec::Debian(d.version.to_string()));
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
    #[error(
        "scratch copy {path} is locked by process {pid} and did not become free within {secs} s"
    )]
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
            let canon = p
                .canonicalize()
                .map_err(io_err(format!("resolving {}", p.display())))?;
            let digest = hex::encode(Sha256::digest(canon.as_os_str().as_encoded_bytes()));
            (canon, format!("tree-{}", &digest[..12]))
        }
    };
    let version = kernel_version(&origin)?;
    Ok(Tree {
        spec: spec.clone(),
        origin,
        slug,
        version,
    })
}

/// Reads `VERSION`, `PATCHLEVEL`, `SUBLEVEL` from a kernel's top Makefile and
/// checks the tree has the directories a kernel has.
pub fn kernel_version(root: &Path) -> Result<String, TreeError> {
    let not = |why: &str| TreeError::NotKernel {
        path: root.to_path_buf(),
        why: why.to_string(),
    };
    for d in ["mm", "kernel", "arch/x86", "scripts/kconfig"] {
        if !root.join(d).is_dir() {
            return Err(not(&format!("no {d}/ directory")));
        }
    }
    let mk = fs::read_to_string(root.join("Makefile"))
        .map_err(|_| not("no readable top-level Makefile"))?;
    let var = |name: &str| -> Option<String> {
        mk.lines().take(20).find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == name).then(|| v.trim().to_string())
        })
    };
    match (var("VERSION"), var("PATCHLEVEL"), var("SUBLEVEL")) {
        (Some(v), Some(p), Some(s)) if !v.is_empty() && !p.is_empty() => Ok(if s.is_empty() {
            format!("{v}.{p}")
        } else {
            format!("{v}.{p}.{s}")
        }),
        _ => Err(not("top-level Makefile has no VERSION/PATCHLEVEL")),
    }
}

/// What a walk records about one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Meta {
    Dir,
    File {
        size: u64,
        mtime: i64,
        mtime_ns: i64,
        mode: u32,
    },
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
            let md = ent
                .metadata()
                .map_err(io_err(format!("stat {}", root.join(&r).display())))?;
            let ft = md.file_type();
            if ft.is_dir() {
                out.push((r.clone(), Meta::Dir));
                stack.push(r);
            } else if ft.is_symlink() {
                let t = fs::read_link(root.join(&r))
                    .map_err(io_err(format!("readlink {}", root.join(&r).display())))?;
                out.push((r, Meta::Symlink(t)));
            } else if ft.is_file() {
                out.push((
                    r,
                    Meta::File {
                        size: md.size(),
                        mtime: md.mtime(),
                        mtime_ns: md.mtime_nsec(),
                        mode: md.mode() & 0o7777,
                    },
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
            Meta::File {
                size,
                mtime,
                mtime_ns,
                mode,
            } => h.update(format!("\0f{size} {mtime}.{mtime_ns} {mode:o}\n")),
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
    /// Files new or changed in the origin (copied with the current time as
    /// mtime, so make rebuilds what depends on them).
    pub copied: usize,
    /// Files changed in the scratch copy only (patched): put back with the
    /// content and mtime they had before, so objects built from them stay valid.
    pub restored: usize,
    pub removed: usize,
    pub unchanged: usize,
}

/// What the last sync left in the scratch copy: for each file, the origin's
/// metadata it was copied from and the scratch file's own metadata.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub files: HashMap<PathBuf, (FileMeta, FileMeta)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMeta {
    pub size: u64,
    pub mtime: i64,
    pub mtime_ns: i64,
    pub mode: u32,
}

impl FileMeta {
    fn of(m: &Meta) -> Option<FileMeta> {
        match *m {
            Meta::File {
                size,
                mtime,
                mtime_ns,
                mode,
            } => Some(FileMeta {
                size,
                mtime,
                mtime_ns,
                mode,
            }),
            _ => None,
        }
    }
}

impl Manifest {
    /// One line per file: `size mtime ns mode smtime sns ssize path`.
    pub fn load(path: &Path) -> Manifest {
        let mut files = HashMap::new();
        let Ok(text) = fs::read_to_string(path) else {
            return Manifest::default();
        };
        for line in text.lines() {
            let mut it = line.splitn(8, ' ');
            let mut num = || it.next().and_then(|x| x.parse::<i64>().ok());
            let (
                Some(size),
                Some(mtime),
                Some(ns),
                Some(mode),
                Some(smtime),
                Some(sns),
                Some(ssize),
            ) = (num(), num(), num(), num(), num(), num(), num())
            else {
                return Manifest::default(); // damaged: start over
            };
            let Some(p) = it.next().filter(|p| !p.is_empty()) else {
                return Manifest::default();
            };
            let o = FileMeta {
                size: size as u64,
                mtime,
                mtime_ns: ns,
                mode: mode as u32,
            };
            let sc = FileMeta {
                size: ssize as u64,
                mtime: smtime,
                mtime_ns: sns,
                mode: mode as u32,
            };
            files.insert(PathBuf::from(p), (o, sc));
        }
        Manifest { files }
    }

    pub fn save(&self, path: &Path) -> Result<(), TreeError> {
        let mut out = String::with_capacity(self.files.len() * 64);
        let mut keys: Vec<&PathBuf> = self.files.keys().collect();
        keys.sort();
        for k in keys {
            let Some(ks) = k.to_str() else { continue }; // non-UTF-8 path: recopied next time
            if ks.contains('\n') {
                continue;
            }
            let (o, sc) = &self.files[k];
            out.push_str(&format!(
                "{} {} {} {} {} {} {} {}\n",
                o.size, o.mtime, o.mtime_ns, o.mode, sc.mtime, sc.mtime_ns, sc.size, ks
            ));
        }
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, out).map_err(io_err(format!("writing {}", tmp.display())))?;
        fs::rename(&tmp, path).map_err(io_err(format!("writing {}", path.display())))
    }
}

/// Makes `scratch` a copy of `origin` (per `origin_walk`), keeping make's
/// timestamps meaningful for an object tree built from it:
/// - a file the origin still has as it was, but that was changed in the
///   scratch copy (a patch), gets back its content and its previous mtime;
/// - a file that is new or changed in the origin since the last sync is
///   copied with the current time as mtime (on the very first sync: with the
///   origin's mtime);
/// - paths the origin does not have are removed.
///
/// `manifest` records what the sync left, for the next one.
pub fn sync(
    origin: &Path,
    origin_walk: &[(PathBuf, Meta)],
    scratch: &Path,
    manifest: &Path,
) -> Result<SyncStats, TreeError> {
    let mut stats = SyncStats::default();
    fs::create_dir_all(scratch).map_err(io_err(format!("creating {}", scratch.display())))?;
    let old = Manifest::load(manifest);
    let initial = old.files.is_empty();
    let have = walk(scratch)?;
    let want: HashMap<&Path, &Meta> = origin_walk.iter().map(|(p, m)| (p.as_path(), m)).collect();
    let have_map: HashMap<&Path, &Meta> = have.iter().map(|(p, m)| (p.as_path(), m)).collect();
    remove_extra(scratch, &have, &want, &mut stats)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut new = Manifest::default();
    for (p, m) in origin_walk {
        let dst = scratch.join(p);
        match m {
            Meta::Dir => {
                if !matches!(have_map.get(p.as_path()), Some(Meta::Dir)) {
                    fs::create_dir_all(&dst)
                        .map_err(io_err(format!("creating {}", dst.display())))?;
                }
            }
            Meta::Symlink(t) => {
                if have_map.get(p.as_path()) == Some(&m) {
                    stats.unchanged += 1;
                    continue;
                }
                let _ = fs::remove_file(&dst);
                std::os::unix::fs::symlink(t, &dst)
                    .map_err(io_err(format!("creating symlink {}", dst.display())))?;
                stats.copied += 1;
            }
            Meta::File { .. } => {
                let om = FileMeta::of(m).expect("file");
                let cur = have_map.get(p.as_path()).and_then(|c| FileMeta::of(c));
                let Some((mtime, mtime_ns)) =
                    file_mtime(old.files.get(p), om, cur, initial, now, &mut stats)
                else {
                    // Unchanged: the manifest keeps the scratch file's metadata
                    // (on the first sync, with no manifest, the origin's).
                    let sc = old.files.get(p).map(|(_, sc)| *sc).unwrap_or(om);
                    new.files.insert(p.clone(), (om, sc));
                    continue;
                };
                copy_file(&origin.join(p), &dst, mtime, mtime_ns, om.mode)?;
                let sc = FileMeta {
                    size: om.size,
                    mtime,
                    mtime_ns,
                    mode: om.mode,
                };
                new.files.insert(p.clone(), (om, sc));
            }
        }
    }
    new.save(manifest)?;
    Ok(stats)
}

/// Removes what the scratch copy has and the origin does not (or has as
/// another kind), deepest first.
fn remove_extra(
    scratch: &Path,
    have: &[(PathBuf, Meta)],
    want: &HashMap<&Path, &Meta>,
    stats: &mut SyncStats,
) -> Result<(), TreeError> {
    for (p, m) in have.iter().rev() {
        let keep = matches!(
            (want.get(p.as_path()), m),
            (Some(Meta::Dir), Meta::Dir)
                | (Some(Meta::File { .. }), Meta::File { .. })
                | (Some(Meta::Symlink(_)), Meta::Symlink(_))
        );
        if !keep {
            let full = scratch.join(p);
            let r = if matches!(m, Meta::Dir) {
                fs::remove_dir_all(&full)
            } else {
                fs::remove_file(&full)
            };
            match r {
                Ok(()) => stats.removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {} // inside a removed dir
                Err(e) => return Err(io_err(format!("removing {}", full.display()))(e)),
            }
        }
    }
    Ok(())
}

/// The mtime a file of the origin gets in the scratch copy, or None when
/// it is unchanged there (nothing to copy). Counts it in `stats`.
fn file_mtime(
    last: Option<&(FileMeta, FileMeta)>,
    om: FileMeta,
    cur: Option<FileMeta>,
    initial: bool,
    now: Duration,
    stats: &mut SyncStats,
) -> Option<(i64, i64)> {
    match last {
        // The origin's file is as it was at the last sync.
        Some((o, sc)) if *o == om => {
            if cur == Some(*sc) {
                stats.unchanged += 1;
                return None;
            }
            // Changed in the scratch copy (patched): back to its old mtime.
            stats.restored += 1;
            Some((sc.mtime, sc.mtime_ns))
        }
        _ if initial => {
            if cur == Some(om) {
                stats.unchanged += 1;
                return None;
            }
            stats.copied += 1;
            Some((om.mtime, om.mtime_ns))
        }
        // New or changed in the origin: newer than any object built before.
        _ => {
            stats.copied += 1;
            Some((now.as_secs() as i64, now.subsec_nanos() as i64))
        }
    }
}

fn copy_file(
    src: &Path,
    dst: &Path,
    mtime: i64,
    mtime_ns: i64,
    mode: u32,
) -> Result<(), TreeError> {
    let tmp = dst.with_file_name(format!(
        ".{}.mmstall-tmp",
        dst.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    fs::copy(src, &tmp).map_err(io_err(format!(
        "copying {} to {}",
        src.display(),
        tmp.display()
    )))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))
        .map_err(io_err(format!("chmod {}", tmp.display())))?;
    let when = if mtime >= 0 {
        UNIX_EPOCH + Duration::new(mtime as u64, mtime_ns.clamp(0, 999_999_999) as u32)
    } else {
        UNIX_EPOCH
    };
    let f = fs::OpenOptions::new()
        .write(true)
        .open(&tmp)
        .map_err(io_err(format!("opening {}", tmp.display())))?;
    f.set_times(
        fs::FileTimes::new()
            .set_modified(when)
            .set_accessed(SystemTime::now()),
    )
    .map_err(io_err(format!("setting mtime of {}", tmp.display())))?;
    drop(f);
    fs::rename(&tmp, dst).map_err(io_err(format!(
        "renaming {} to {}",
        tmp.display(),
        dst.display()
    )))?;
    Ok(())
}

/// An exclusive lock on a scratch copy: a lock file holding the owner's pid.
/// A lock whose owner is gone is taken over.
pub struct ScratchLock {
    path: PathBuf,
}

impl ScratchLock {
    pub fn acquire(
        path: &Path,
        wait: Duration,
        mut on_wait: impl FnMut(u32),
    ) -> Result<ScratchLock, TreeError> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
        }
        let me = std::process::id();
        let start = std::time::Instant::now();
        let mut told = false;
        loop {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(mut f) => {
                    use std::io::Write;
                    writeln!(f, "{me}").map_err(io_err(format!("writing {}", path.display())))?;
                    return Ok(ScratchLock {
                        path: path.to_path_buf(),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let owner = fs::read_to_string(path)
                        .ok()
                        .and_then(|s| s.trim().parse::<u32>().ok());
                    match owner {
                        // Held by a live process (this one included: another
                        // thread of it is building).
                        Some(pid) if Path::new(&format!("/proc/{pid}")).exists() => {
                            if start.elapsed() >= wait {
                                return Err(TreeError::LockTimeout {
                                    path: path.to_path_buf(),
                                    pid,
                                    secs: wait.as_secs(),
                                });
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
        write(
            &root.join("Makefile"),
            "# SPDX\nVERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 3\nEXTRAVERSION =\n",
        );
        for d in ["mm", "kernel", "arch/x86", "scripts/kconfig"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        write(&root.join("mm/memory.c"), "int x;\n");
        write(&root.join("mm/mmap.c"), "int y;\n");
        std::os::unix::fs::symlink("memory.c", root.join("mm/link.c")).unwrap();
    }

    #[test]
    fn parses_tree_specs() {
        assert_eq!(
            TreeSpec::parse("debian:6.12").unwrap(),
            TreeSpec::Debian("6.12".into())
        );
        assert_eq!(
            TreeSpec::parse("/x/linux").unwrap(),
            TreeSpec::Path("/x/linux".into())
        );
        assert!(matches!(
            TreeSpec::parse("debian:"),
            Err(TreeError::BadDebianVersion(_))
        ));
        assert!(matches!(
            TreeSpec::parse("debian:../x"),
            Err(TreeError::BadDebianVersion(_))
        ));
        assert!(matches!(TreeSpec::parse(" "), Err(TreeError::Empty)));
    }

    #[test]
    fn debian_refs_and_their_directories() {
        let d = DebianRef::parse("debian:6.12/mm/vma.c").unwrap();
        assert_eq!((d.version, d.sub), ("6.12", "mm/vma.c"));
        assert!(d.version_ok());
        assert_eq!(DebianRef::parse("/x/linux"), None);
        assert!(!DebianRef::parse("debian:6.x").unwrap().version_ok());
        assert!(!DebianRef::parse("debian:").unwrap().version_ok());
        let cache = Cache::at(Path::new("/c"));
        assert_eq!(
            spec_dir(&cache, "debian:6.12"),
            PathBuf::from("/c/src/linux-source-6.12")
        );
        assert_eq!(
            spec_dir(&cache, "debian:6.12/mm"),
            PathBuf::from("/c/src/linux-source-6.12/mm")
        );
        assert_eq!(spec_dir(&cache, "/x/linux"), PathBuf::from("/x/linux"));
        // `--tree` wants the whole tree.
        assert!(matches!(
            TreeSpec::parse("debian:6.12/mm"),
            Err(TreeError::BadDebianVersion(v)) if v == "6.12/mm"
        ));
    }

    #[test]
    fn resolves_and_rejects_trees() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::at(&d.path().join("cache"));
        assert!(matches!(
            resolve(&TreeSpec::Debian("6.12".into()), &cache),
            Err(TreeError::DebianMissing(_))
        ));
        let k = d.path().join("linux");
        fake_kernel(&k);
        let t = resolve(&TreeSpec::Path(k.clone()), &cache).unwrap();
        assert_eq!(t.version, "6.12.3");
        assert!(t.slug.starts_with("tree-") && t.slug.len() == 17);
        let not = d.path().join("notkernel");
        fs::create_dir_all(&not).unwrap();
        let e = resolve(&TreeSpec::Path(not), &cache).unwrap_err();
        assert!(
            e.to_string()
                .contains("not a Linux kernel source tree (no mm/ directory)"),
            "{e}"
        );
        assert!(matches!(
            resolve(&TreeSpec::Path(d.path().join("nope")), &cache),
            Err(TreeError::NotFound(_))
        ));
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
        let man = d.path().join("manifest");
        fake_kernel(&k);
        let w = walk(&k).unwrap();
        let st = sync(&k, &w, &s, &man).unwrap();
        assert_eq!(st.copied, 4); // Makefile, 2 files, 1 symlink
        assert_eq!(walk(&s).unwrap(), w, "first copy is exact, mtimes included");
        // Nothing to do the second time.
        let st = sync(&k, &w, &s, &man).unwrap();
        assert_eq!(
            (st.copied, st.restored, st.removed, st.unchanged),
            (0, 0, 0, 4)
        );
        // Patch the scratch copy in place (modify, add, delete), then restore:
        // the patched file gets its old content and old mtime back.
        write(&s.join("mm/memory.c"), "int x; /* patched */\n");
        write(&s.join("mm/added/file.c"), "new\n");
        fs::remove_file(s.join("mm/mmap.c")).unwrap();
        let st = sync(&k, &w, &s, &man).unwrap();
        assert_eq!((st.copied, st.restored, st.removed), (0, 2, 2)); // mm/added, mm/added/file.c
        assert_eq!(walk(&s).unwrap(), w);
        assert_eq!(
            fs::read_to_string(s.join("mm/memory.c")).unwrap(),
            "int x;\n"
        );
        // The user's tree was not touched.
        assert_eq!(walk(&k).unwrap(), w);

        // The user changes a file, even one with an old mtime: the copy gets a
        // fresh mtime (newer than any object built before), and keeps it.
        write(&k.join("mm/mmap.c"), "int y; /* user edit */\n");
        let f = fs::OpenOptions::new()
            .write(true)
            .open(k.join("mm/mmap.c"))
            .unwrap();
        f.set_times(fs::FileTimes::new().set_modified(UNIX_EPOCH + Duration::from_secs(1_000_000)))
            .unwrap();
        drop(f);
        let before = SystemTime::now() - Duration::from_secs(1);
        let w2 = walk(&k).unwrap();
        let st = sync(&k, &w2, &s, &man).unwrap();
        assert_eq!((st.copied, st.restored, st.removed), (1, 0, 0));
        assert_eq!(
            fs::read_to_string(s.join("mm/mmap.c")).unwrap(),
            "int y; /* user edit */\n"
        );
        let m = fs::metadata(s.join("mm/mmap.c"))
            .unwrap()
            .modified()
            .unwrap();
        assert!(m >= before, "changed file has a fresh mtime");
        let st = sync(&k, &w2, &s, &man).unwrap();
        assert_eq!((st.copied, st.restored, st.unchanged), (0, 0, 4));
        assert_eq!(
            fs::metadata(s.join("mm/mmap.c"))
                .unwrap()
                .modified()
                .unwrap(),
            m
        );
    }

    #[test]
    fn manifest_round_trip_and_damage() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("m");
        let mut m = Manifest::default();
        let fm = FileMeta {
            size: 3,
            mtime: 10,
            mtime_ns: 5,
            mode: 0o644,
        };
        m.files
            .insert("a b/c.c".into(), (fm, FileMeta { mtime: 20, ..fm }));
        m.save(&p).unwrap();
        assert_eq!(Manifest::load(&p), m);
        fs::write(&p, "garbage line\n").unwrap();
        assert_eq!(Manifest::load(&p), Manifest::default());
        assert_eq!(Manifest::load(&d.path().join("none")), Manifest::default());
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
        let e = ScratchLock::acquire(&p, Duration::from_millis(600), |pid| waited = Some(pid))
            .err()
            .unwrap();
        assert!(matches!(e, TreeError::LockTimeout { pid: 1, .. }));
        assert_eq!(waited, Some(1));
        // A dead owner's lock is taken over.
        fs::write(&p, "999999999\n").unwrap();
        let _l = ScratchLock::acquire(&p, Duration::from_secs(1), |_| {}).unwrap();
        assert_eq!(
            fs::read_to_string(&p).unwrap().trim(),
            std::process::id().to_string()
        );
    }
}
