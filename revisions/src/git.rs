//! Reading revisions from the object database: a tree, restricted to path
//! prefixes, becomes a [`BlobTree`] the analyzer reads like a directory.
//! Blobs are read once per object id and shared between revisions.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};
use mmstall_analyzer::source::{ContentId, Skipped, SourceFile, SourceSet};
use rayon::prelude::*;

use crate::error::RevisionsError;

/// Path prefixes (`mm`, `mm/vma.c`, `include/linux/`) a run is restricted
/// to; none means the whole tree. A prefix matches whole path components.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathFilter {
    prefixes: Vec<String>,
}

impl PathFilter {
    pub fn new<S: AsRef<str>>(paths: &[S]) -> PathFilter {
        let mut prefixes: Vec<String> = paths
            .iter()
            .map(|p| {
                let p = p.as_ref().trim_start_matches("./").trim_matches('/');
                p.to_string()
            })
            .collect();
        if prefixes.iter().any(|p| p.is_empty() || p == ".") {
            prefixes.clear();
        }
        prefixes.sort();
        prefixes.dedup();
        PathFilter { prefixes }
    }

    pub fn prefixes(&self) -> &[String] {
        &self.prefixes
    }

    /// Is the file (a path relative to the repository root) selected?
    pub fn matches_file(&self, path: &str) -> bool {
        self.prefixes.is_empty() || self.prefixes.iter().any(|p| within(path, p))
    }

    /// Can the directory hold a selected file?
    fn may_contain(&self, dir: &str) -> bool {
        self.prefixes.is_empty()
            || self
                .prefixes
                .iter()
                .any(|p| within(dir, p) || within(p, dir))
    }
}

fn within(path: &str, prefix: &str) -> bool {
    path == prefix || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'/'))
}

pub fn open_repo(path: &Path) -> Result<Repository, RevisionsError> {
    Repository::open(path).map_err(|error| RevisionsError::Repo {
        path: path.to_path_buf(),
        error,
    })
}

/// The tree a revision names (`HEAD~2`, a branch, a commit or tree id).
pub fn resolve_tree(repo: &Repository, rev: &str) -> Result<Oid, RevisionsError> {
    let bad = |error| RevisionsError::BadRev {
        rev: rev.to_string(),
        repo: repo.path().to_path_buf(),
        error,
    };
    let object = match repo.revparse_single(rev) {
        Ok(object) => object,
        Err(error) => {
            if let Some(commit) = shallow_boundary(repo, rev) {
                return Err(RevisionsError::ShallowHistory {
                    rev: rev.to_string(),
                    commit: commit.to_string(),
                });
            }
            return Err(bad(error));
        }
    };
    let tree = object.peel(ObjectType::Tree).map_err(bad)?;
    Ok(tree.id())
}

/// In a shallow clone, the commit whose missing parents make `rev` (`HEAD~3`,
/// `v6.12^2`) unresolvable: its base resolves, and the walk its `~`/`^`
/// suffix asks for reaches a commit the clone has without its parents.
fn shallow_boundary(repo: &Repository, rev: &str) -> Option<Oid> {
    if !repo.is_shallow() {
        return None;
    }
    // The commits whose parents the clone does not have.
    let grafted: Vec<Oid> = std::fs::read_to_string(repo.path().join("shallow"))
        .ok()?
        .lines()
        .filter_map(|l| Oid::from_str(l.trim()).ok())
        .collect();
    // The suffix: trailing `~N`/`^N` steps (a base may end in digits).
    let bytes = rev.as_bytes();
    let mut cut = bytes.len();
    while cut > 0 && matches!(bytes[cut - 1], b'~' | b'^' | b'0'..=b'9') {
        cut -= 1;
    }
    let start = cut + bytes[cut..].iter().position(|b| matches!(b, b'~' | b'^'))?;
    let (base, suffix) = rev.split_at(start);
    let mut commit = repo.revparse_single(base).ok()?.peel_to_commit().ok()?;
    let mut steps = suffix.as_bytes();
    while let Some((&op, rest)) = steps.split_first() {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let n: usize = std::str::from_utf8(&rest[..digits])
            .ok()
            .and_then(|d| d.parse().ok())
            .unwrap_or(1);
        steps = &rest[digits..];
        // `~N`: N first parents; `^N`: the Nth parent (`^0`: the commit).
        let walk = if op == b'~' { vec![1; n] } else { vec![n] };
        for nth in walk {
            if nth == 0 {
                continue;
            }
            if grafted.contains(&commit.id()) || commit.parent_count() < nth {
                return grafted.contains(&commit.id()).then(|| commit.id());
            }
            commit = commit.parent(nth - 1).ok()?;
        }
    }
    None
}

/// `git diff`'s way of naming two revisions: `OLD NEW`, or `OLD..NEW` (the
/// same; an empty side is `HEAD`) followed by the PATHs, whose first one
/// then arrives as `new`. Returns OLD, NEW and that path, if any.
/// `OLD...NEW` (from the merge base) is refused with the way to write it.
pub fn split_revisions(
    old: &str,
    new: Option<&str>,
) -> Result<(String, String, Option<String>), RevisionsError> {
    let usage = |message: String| Err(RevisionsError::Usage { message });
    if old.contains("...") {
        let (a, b) = old.split_once("...").unwrap_or((old, ""));
        let (a, b) = (or_head(a), or_head(b));
        return usage(format!(
            "`{old}` (from the merge base of {a} and {b}) is not supported: give the merge base as OLD: `mmstall diff --repo R $(git merge-base {a} {b}) {b}`"
        ));
    }
    if let Some((a, b)) = old.split_once("..") {
        // A ref name cannot contain `..`: this is a range, and what follows
        // it is a PATH.
        return Ok((or_head(a), or_head(b), new.map(str::to_string)));
    }
    match new {
        Some(n) if n.contains("..") => usage(format!(
            "`{n}` as NEW: a range replaces both OLD and NEW (`mmstall diff --repo R A..B [PATH...]`)"
        )),
        Some(n) => Ok((old.to_string(), n.to_string(), None)),
        None => usage(format!(
            "NEW is missing after `{old}`: give two revisions (`OLD NEW`) or a range (`OLD..NEW`)"
        )),
    }
}

fn or_head(side: &str) -> String {
    if side.is_empty() {
        "HEAD".to_string()
    } else {
        side.to_string()
    }
}

/// The `.c`/`.h` files of a git tree under a [`PathFilter`], with their
/// contents (shared, read once per blob id). Paths are relative to the
/// repository root, so findings name `mm/vma.c` whatever the filter.
#[derive(Clone, Default)]
pub struct BlobTree {
    pub files: BTreeMap<String, (Oid, Arc<Vec<u8>>)>,
    /// Selected files whose blob is not in the object database (a partial
    /// clone fetched without it, a damaged repository): left out of the
    /// analysis and reported as skipped, so the other files still count.
    pub missing: BTreeMap<String, Oid>,
    /// Directories that may hold selected files but whose tree object is
    /// missing (a partial clone without trees): skipped the same way.
    pub missing_trees: BTreeMap<String, Oid>,
}

impl BlobTree {
    /// Identifies the content: equal keys, equal analysis (the missing
    /// files are part of it: they are reported).
    pub fn key(&self) -> Vec<(String, Oid)> {
        let mut key: Vec<(String, Oid)> = self
            .files
            .iter()
            .map(|(p, (o, _))| (p.clone(), *o))
            .chain(self.missing.iter().map(|(p, o)| (p.clone(), *o)))
            .chain(
                self.missing_trees
                    .iter()
                    .map(|(p, o)| (format!("{p}/"), *o)),
            )
            .collect();
        key.sort();
        key
    }

    /// The skipped-file entries of the missing blobs and trees (a
    /// directory is named with a trailing `/`).
    pub fn missing_skips(&self) -> Vec<Skipped> {
        let blobs = self.missing.iter().map(|(path, oid)| Skipped {
            file: path.clone(),
            reason: format!("blob {oid} missing (partial clone?)"),
        });
        let trees = self.missing_trees.iter().map(|(path, oid)| Skipped {
            file: format!("{path}/"),
            reason: format!("tree {oid} missing (partial clone?)"),
        });
        blobs.chain(trees).collect()
    }
}

impl SourceSet for BlobTree {
    fn list(&self) -> Vec<(String, u64)> {
        self.files
            .iter()
            .map(|(p, (_, b))| (p.clone(), b.len() as u64))
            .collect()
    }

    fn read(&self, rel: &str) -> Result<SourceFile, Skipped> {
        match self.files.get(rel) {
            Some((_, bytes)) => decode(rel, bytes),
            None => Err(Skipped {
                file: rel.to_string(),
                reason: "no such file".into(),
            }),
        }
    }

    /// The blob id: equal blobs, equal bytes (the analyzer's scan cache key).
    fn content_id(&self, rel: &str) -> Option<ContentId> {
        let (oid, _) = self.files.get(rel)?;
        oid.as_bytes().try_into().ok()
    }
}

/// As the analyzer reads files on disk: NUL bytes mean binary, and the text
/// must be UTF-8 (the line of the first bad byte is named).
fn decode(rel: &str, bytes: &[u8]) -> Result<SourceFile, Skipped> {
    if memchr::memchr(0, bytes).is_some() {
        return Err(Skipped {
            file: rel.to_string(),
            reason: "binary file (contains NUL bytes)".into(),
        });
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(SourceFile {
            rel: rel.to_string(),
            text: text.to_string(),
        }),
        Err(e) => {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            Err(Skipped {
                file: rel.to_string(),
                reason: format!("not valid UTF-8 (line {line})"),
            })
        }
    }
}

type Blob = (Oid, Arc<Vec<u8>>);

/// Blobs by object id, shared by every revision of a run.
#[derive(Default)]
pub struct BlobStore {
    blobs: Mutex<HashMap<Oid, Arc<Vec<u8>>>>,
}

impl BlobStore {
    pub fn len(&self) -> usize {
        self.blobs.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lists the selected files of `tree` and reads the blobs not read yet
    /// (in parallel: one repository handle per worker).
    pub fn load_tree(
        &self,
        repo: &Repository,
        tree: Oid,
        filter: &PathFilter,
    ) -> Result<BlobTree, RevisionsError> {
        let git_err = |what: String| move |error| RevisionsError::Git { what, error };
        let t = repo
            .find_tree(tree)
            .map_err(git_err(format!("tree {tree}")))?;
        let odb = repo.odb().map_err(git_err("the object database".into()))?;
        let mut entries: Vec<(String, Oid)> = Vec::new();
        let mut missing_trees: BTreeMap<String, Oid> = BTreeMap::new();
        t.walk(TreeWalkMode::PreOrder, |root, entry| {
            let Some(name) = entry.name() else {
                return TreeWalkResult::Skip;
            };
            let path = format!("{root}{name}");
            match entry.kind() {
                Some(ObjectType::Tree) => {
                    if !filter.may_contain(&path) {
                        TreeWalkResult::Skip
                    } else if !odb.exists(entry.id()) {
                        // A partial clone without trees (`--filter=tree:0`):
                        // libgit2's walk would abort the whole tree here.
                        missing_trees.insert(path, entry.id());
                        TreeWalkResult::Skip
                    } else {
                        TreeWalkResult::Ok
                    }
                }
                Some(ObjectType::Blob) => {
                    // Regular files only (no symlinks), as the analyzer reads a directory.
                    let regular = matches!(entry.filemode(), 0o100644 | 0o100755);
                    if regular
                        && (name.ends_with(".c") || name.ends_with(".h"))
                        && filter.matches_file(&path)
                    {
                        entries.push((path, entry.id()));
                    }
                    TreeWalkResult::Ok
                }
                _ => TreeWalkResult::Ok,
            }
        })
        .map_err(git_err(format!("tree {tree}")))?;

        let missing: Vec<Oid> = {
            let known = self.blobs.lock().expect("blob store lock");
            let mut m: Vec<Oid> = entries
                .iter()
                .map(|(_, o)| *o)
                .filter(|o| !known.contains_key(o))
                .collect();
            m.sort();
            m.dedup();
            m
        };
        if missing.len() < 64 {
            let odb = repo.odb().map_err(git_err("the object database".into()))?;
            let mut read: Vec<Blob> = Vec::new();
            for oid in missing {
                match odb.read(oid) {
                    Ok(obj) => read.push((oid, Arc::new(obj.data().to_vec()))),
                    Err(e) if e.code() == git2::ErrorCode::NotFound => {}
                    Err(e) => return Err(git_err(format!("blob {oid}"))(e)),
                }
            }
            self.blobs.lock().expect("blob store lock").extend(read);
        } else {
            let git_dir = repo.path().to_path_buf();
            let chunk = missing
                .len()
                .div_ceil(rayon::current_num_threads() * 4)
                .max(1);
            // Worker handles see the object database on disk; objects only in
            // the main handle's in-memory backend (trees a series wrote) are
            // read afterwards through it.
            // Per chunk: the blobs found on disk, the ids left for the main handle.
            type ChunkRead = (Vec<Blob>, Vec<Oid>);
            let read: Result<Vec<ChunkRead>, RevisionsError> = missing
                .par_chunks(chunk)
                .map(|oids| {
                    let r = Repository::open(&git_dir).map_err(|error| RevisionsError::Repo {
                        path: git_dir.clone(),
                        error,
                    })?;
                    let odb = r.odb().map_err(git_err("the object database".into()))?;
                    let mut found = Vec::with_capacity(oids.len());
                    let mut elsewhere = Vec::new();
                    for oid in oids {
                        match odb.read(*oid) {
                            Ok(obj) => found.push((*oid, Arc::new(obj.data().to_vec()))),
                            Err(e) if e.code() == git2::ErrorCode::NotFound => elsewhere.push(*oid),
                            Err(e) => return Err(git_err(format!("blob {oid}"))(e)),
                        }
                    }
                    Ok((found, elsewhere))
                })
                .collect();
            let odb = repo.odb().map_err(git_err("the object database".into()))?;
            let mut all: Vec<Blob> = Vec::with_capacity(missing.len());
            for (found, elsewhere) in read? {
                all.extend(found);
                for oid in elsewhere {
                    match odb.read(oid) {
                        Ok(obj) => all.push((oid, Arc::new(obj.data().to_vec()))),
                        Err(e) if e.code() == git2::ErrorCode::NotFound => {}
                        Err(e) => return Err(git_err(format!("blob {oid}"))(e)),
                    }
                }
            }
            self.blobs.lock().expect("blob store lock").extend(all);
        }
        // A blob not found (NotFound above) is a missing file, not an error.
        let known = self.blobs.lock().expect("blob store lock");
        let mut tree = BlobTree {
            missing_trees,
            ..BlobTree::default()
        };
        for (path, oid) in entries {
            match known.get(&oid) {
                Some(bytes) => {
                    tree.files.insert(path, (oid, bytes.clone()));
                }
                None => {
                    tree.missing.insert(path, oid);
                }
            }
        }
        Ok(tree)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_split_like_git_diff() {
        let split =
            |old: &str, new: Option<&str>| split_revisions(old, new).map_err(|e| e.to_string());
        let own = |a: &str, b: &str, p: Option<&str>| -> Result<_, String> {
            Ok((a.to_string(), b.to_string(), p.map(String::from)))
        };
        assert_eq!(split("a", Some("b")), own("a", "b", None));
        assert_eq!(split("a..b", None), own("a", "b", None));
        assert_eq!(split("a..b", Some("mm")), own("a", "b", Some("mm")));
        assert_eq!(split("v6.11..", None), own("v6.11", "HEAD", None));
        assert_eq!(split("..b", None), own("HEAD", "b", None));
        let e = split("a...b", None).unwrap_err();
        assert!(e.contains("git merge-base a b"), "{e}");
        assert!(split("a", None).unwrap_err().contains("NEW is missing"));
        assert!(split("a", Some("b..c"))
            .unwrap_err()
            .contains("a range replaces"));
    }

    #[test]
    fn filter_matches_whole_components() {
        let f = PathFilter::new(&["mm/", "./include/linux/mm.h"]);
        assert!(f.matches_file("mm/vma.c"));
        assert!(!f.matches_file("mmu/x.c"));
        assert!(f.matches_file("include/linux/mm.h"));
        assert!(!f.matches_file("include/linux/mm.hh"));
        assert!(f.may_contain("include"));
        assert!(f.may_contain("include/linux"));
        assert!(!f.may_contain("arch"));
        assert!(PathFilter::new(&["."]).matches_file("any/thing.c"));
        assert!(PathFilter::new::<&str>(&[]).matches_file("any/thing.c"));
    }
}
