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
    Repository::open(path).map_err(|source| RevisionsError::Repo {
        path: path.to_path_buf(),
        source,
    })
}

/// The tree a revision names (`HEAD~2`, a branch, a commit or tree id).
pub fn resolve_tree(repo: &Repository, rev: &str) -> Result<Oid, RevisionsError> {
    let bad = |source| RevisionsError::BadRev {
        rev: rev.to_string(),
        repo: repo.path().to_path_buf(),
        source,
    };
    let object = repo.revparse_single(rev).map_err(bad)?;
    let tree = object.peel(ObjectType::Tree).map_err(bad)?;
    Ok(tree.id())
}

/// The `.c`/`.h` files of a git tree under a [`PathFilter`], with their
/// contents (shared, read once per blob id). Paths are relative to the
/// repository root, so findings name `mm/vma.c` whatever the filter.
#[derive(Clone, Default)]
pub struct BlobTree {
    pub files: BTreeMap<String, (Oid, Arc<Vec<u8>>)>,
}

impl BlobTree {
    /// Identifies the content: equal keys, equal analysis.
    pub fn key(&self) -> Vec<(String, Oid)> {
        self.files
            .iter()
            .map(|(p, (o, _))| (p.clone(), *o))
            .collect()
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
        let git_err = |what: String| move |source| RevisionsError::Git { what, source };
        let t = repo
            .find_tree(tree)
            .map_err(git_err(format!("tree {tree}")))?;
        let mut entries: Vec<(String, Oid)> = Vec::new();
        t.walk(TreeWalkMode::PreOrder, |root, entry| {
            let Some(name) = entry.name() else {
                return TreeWalkResult::Skip;
            };
            let path = format!("{root}{name}");
            match entry.kind() {
                Some(ObjectType::Tree) => {
                    if filter.may_contain(&path) {
                        TreeWalkResult::Ok
                    } else {
                        TreeWalkResult::Skip
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
                let obj = odb.read(oid).map_err(git_err(format!("blob {oid}")))?;
                read.push((oid, Arc::new(obj.data().to_vec())));
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
                    let r = Repository::open(&git_dir).map_err(|source| RevisionsError::Repo {
                        path: git_dir.clone(),
                        source,
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
                    let obj = odb.read(oid).map_err(git_err(format!("blob {oid}")))?;
                    all.push((oid, Arc::new(obj.data().to_vec())));
                }
            }
            self.blobs.lock().expect("blob store lock").extend(all);
        }
        let known = self.blobs.lock().expect("blob store lock");
        let files = entries
            .into_iter()
            .map(|(p, o)| {
                let b = known.get(&o).cloned().expect("every blob was just read");
                (p, (o, b))
            })
            .collect();
        Ok(BlobTree { files })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
