//! Shared helpers: fixture paths, the base tree as a directory and as a git
//! tree (built with git2 only, no git command).
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use git2::{build::TreeUpdateBuilder, FileMode, Oid, Repository};
use walk::files_under;

pub fn fixture(name: &str) -> PathBuf {
    // Relative to the crate root, where cargo runs tests: keeps the paths in
    // error snapshots independent of where the checkout lives.
    Path::new("tests/fixtures").join(name)
}

/// The tree id git gives the base fixture (all files 100644): the same
/// content gives the same id anywhere, so it is a check on the fixture.
pub const BASE_TREE: &str = "3f402feb4275955a6eaa10b72f16fe6bc404abef";
/// What git itself produced after applying the three patches of
/// `format-patch.mbox` to the base (computed once with `git am`).
pub const SERIES_TREE: &str = "ad5252828f1aca98ae4b4ff42cc67be35de23966";
pub const AFTER_FIRST_TWO_TREE: &str = "1f7751d9ec378e4848719f31abfc31410dbefba9";

/// Copies the base fixture into a fresh temporary directory.
pub fn base_dir() -> tempfile::TempDir {
    let temp = tempfile::tempdir().expect("temp dir");
    for (relative, content) in files_under(&fixture("base")) {
        let target = temp.path().join(&relative);
        fs::create_dir_all(target.parent().expect("has parent")).expect("mkdir");
        fs::write(&target, content).expect("write");
        set_mode(&target, 0o644);
    }
    temp
}

#[cfg(unix)]
pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

#[cfg(unix)]
pub fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

/// A bare repository holding the base fixture as a tree.
pub fn base_repo() -> (tempfile::TempDir, Repository, Oid) {
    let temp = tempfile::tempdir().expect("temp dir");
    let repo = Repository::init_bare(temp.path()).expect("init");
    let tree = tree_from_dir(&repo, &fixture("base"));
    (temp, repo, tree)
}

pub fn tree_from_dir(repo: &Repository, dir: &Path) -> Oid {
    let empty = repo
        .treebuilder(None)
        .expect("builder")
        .write()
        .expect("empty tree");
    let empty = repo.find_tree(empty).expect("tree");
    let mut update = TreeUpdateBuilder::new();
    for (relative, content) in files_under(dir) {
        let blob = repo.blob(&content).expect("blob");
        update.upsert(relative.as_str(), blob, FileMode::Blob);
    }
    update.create_updated(repo, &empty).expect("tree")
}

/// Content of `path` in `tree`, `None` when absent.
pub fn read_tree_file(repo: &Repository, tree: Oid, path: &str) -> Option<(Vec<u8>, i32)> {
    let tree = repo.find_tree(tree).ok()?;
    let entry = tree.get_path(Path::new(path)).ok()?;
    let blob = repo.find_blob(entry.id()).ok()?;
    Some((blob.content().to_vec(), entry.filemode()))
}

pub mod walk {
    use std::fs;
    use std::path::Path;

    /// Every file under `root` as (slash-separated relative path, content),
    /// sorted by path.
    pub fn files_under(root: &Path) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        collect(root, root, &mut out);
        out.sort();
        out
    }

    fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                collect(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).expect("under root");
                let relative = relative.to_string_lossy().replace('\\', "/");
                out.push((relative, fs::read(&path).expect("read")));
            }
        }
    }
}
