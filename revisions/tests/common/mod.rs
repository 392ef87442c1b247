//! Temporary git repositories built with git2 from the in-house seed
//! fixtures (`analyzer/tests/fixtures/seeds`), and patches applied as commits.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use git2::{Oid, Repository, Signature, Time};

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn seeds() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../analyzer/tests/fixtures/seeds")
}

fn sig() -> Signature<'static> {
    Signature::new(
        "Mmstall Tests",
        "tests@mmstall.invalid",
        &Time::new(1_767_225_600, 0),
    )
    .unwrap()
}

/// Writes a tree of nested directories from `path -> content`.
pub fn write_tree(repo: &Repository, files: &BTreeMap<String, Vec<u8>>) -> Oid {
    let mut dirs: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    let mut tb = repo.treebuilder(None).unwrap();
    for (path, content) in files {
        match path.split_once('/') {
            Some((dir, rest)) => {
                dirs.entry(dir.to_string())
                    .or_default()
                    .insert(rest.to_string(), content.clone());
            }
            None => {
                let blob = repo.blob(content).unwrap();
                tb.insert(path, blob, 0o100644).unwrap();
            }
        }
    }
    for (dir, sub) in dirs {
        let t = write_tree(repo, &sub);
        tb.insert(&dir, t, 0o040000).unwrap();
    }
    tb.write().unwrap()
}

pub fn commit(
    repo: &Repository,
    refname: &str,
    tree: Oid,
    parent: Option<Oid>,
    message: &str,
) -> Oid {
    let tree = repo.find_tree(tree).unwrap();
    let parents: Vec<git2::Commit> = parent
        .map(|p| repo.find_commit(p).unwrap())
        .into_iter()
        .collect();
    let parents: Vec<&git2::Commit> = parents.iter().collect();
    repo.commit(Some(refname), &sig(), &sig(), message, &tree, &parents)
        .unwrap()
}

/// A repository (with a work tree, left empty) whose `base` branch holds
/// the seed fixtures under `mm/`, plus a README that is not C.
pub fn seed_repo() -> (tempfile::TempDir, Repository, Oid) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(seeds()).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        files.insert(format!("mm/{name}"), std::fs::read(&p).unwrap());
    }
    files.insert(
        "README".into(),
        b"seed fixtures for mmstall's revision tests\n".to_vec(),
    );
    let tree = write_tree(&repo, &files);
    let base = commit(&repo, "refs/heads/base", tree, None, "base");
    (dir, repo, base)
}

/// Commits `patch` (a fixture file name) on top of `parent` as branch `name`.
pub fn commit_patch(repo: &Repository, parent: Oid, fixture: &str, name: &str) -> Oid {
    let series = mmstall_series::load_series(&fixtures().join(fixture)).unwrap();
    let base_tree = repo.find_commit(parent).unwrap().tree_id();
    let mut tree = base_tree;
    for patch in &series.patches {
        tree = mmstall_series::apply_to_tree(repo, tree, patch).unwrap();
    }
    commit(
        repo,
        &format!("refs/heads/{name}"),
        tree,
        Some(parent),
        fixture,
    )
}

/// The fixture path with the machine-dependent prefix cut, for snapshots.
pub fn redact(text: &str, dir: &Path) -> String {
    text.replace(&fixtures().display().to_string(), "[fixtures]")
        .replace(&dir.display().to_string(), "[repo]")
}
