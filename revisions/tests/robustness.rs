//! The user's repository is input: `diff` and `series` write nothing into
//! it (nor into the repository a `--shared` clone borrows objects from), a
//! blob missing from a partial clone skips that file only, and a shallow
//! clone's missing history is named as such.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::*;
use mmstall_analyzer::Catalogue;
use mmstall_revisions::{
    analyze_series, diff_revisions, render, PatchResult, PathFilter, RevisionsError, Workspace,
};

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "gc.auto=0", "-c", "maintenance.auto=false"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git is needed by these tests (scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn workspace(repo: &Path, paths: &[&str]) -> Workspace {
    Workspace::open(repo, Catalogue::builtin(), PathFilter::new(paths)).unwrap()
}

/// Every file and directory under `root`: its mtime and (files) content.
fn states(root: &Path) -> BTreeMap<PathBuf, (SystemTime, Option<Vec<u8>>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let meta = std::fs::metadata(&dir).unwrap();
        out.insert(dir.clone(), (meta.modified().unwrap(), None));
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else {
                let content = std::fs::read(&path).unwrap();
                out.insert(path, (meta.modified().unwrap(), Some(content)));
            }
        }
    }
    out
}

/// Sets every mtime under `root` to 2001: a touch by the run shows as a
/// change whatever the clock's granularity.
fn age(root: &Path) {
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(978_307_200);
    for path in states(root).into_keys() {
        let file = std::fs::File::open(&path).unwrap();
        file.set_modified(old).unwrap();
    }
}

fn differences(
    before: &BTreeMap<PathBuf, (SystemTime, Option<Vec<u8>>)>,
    after: &BTreeMap<PathBuf, (SystemTime, Option<Vec<u8>>)>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (path, state) in before {
        match after.get(path) {
            None => out.push(format!("removed {}", path.display())),
            Some(now) if now.0 != state.0 => out.push(format!("mtime of {}", path.display())),
            Some(now) if now.1 != state.1 => out.push(format!("content of {}", path.display())),
            _ => {}
        }
    }
    for path in after.keys().filter(|p| !before.contains_key(*p)) {
        out.push(format!("created {}", path.display()));
    }
    out
}

/// `diff` and `series` (whose patches recreate blobs and trees the
/// repository has: a branch holds the same change) leave every file and
/// directory of the repository, packed and loose, and of the repository a
/// `--shared` clone borrows from, as they were: content and mtime.
#[test]
fn diff_and_series_leave_the_repository_and_its_alternates_untouched() {
    let (dir, repo, base) = seed_repo();
    commit_patch(&repo, base, "remove-downgrade.patch", "regress");
    drop(repo);
    // Half packed, half loose: the base in a pack, the later objects loose.
    git(dir.path(), &["repack", "-a", "-d", "-q"]);
    git(dir.path(), &["prune-packed"]);
    let repo = git2::Repository::open(dir.path()).unwrap();
    commit_patch(&repo, base, "move-only.patch", "moved");
    drop(repo);
    let clone_parent = tempfile::tempdir().unwrap();
    let clone = clone_parent.path().join("clone.git");
    git(
        clone_parent.path(),
        &[
            "clone",
            "-q",
            "--bare",
            "--shared",
            dir.path().to_str().unwrap(),
            "clone.git",
        ],
    );
    assert!(clone.join("objects/info/alternates").is_file());
    let git_dir = dir.path().join(".git");
    assert!(
        std::fs::read_dir(git_dir.join("objects/pack"))
            .unwrap()
            .count()
            >= 2,
        "the repository has a pack"
    );
    age(&git_dir);
    age(&clone);
    let before = (states(&git_dir), states(&clone));

    let regress = mmstall_series::load_series(&fixtures().join("remove-downgrade.patch")).unwrap();
    let moved = mmstall_series::load_series(&fixtures().join("move-only.patch")).unwrap();
    let mbox = mmstall_series::load_series(&fixtures().join("series.mbox")).unwrap();
    for repo_dir in [git_dir.as_path(), clone.as_path()] {
        let mut ws = workspace(repo_dir, &[]);
        let d = diff_revisions(&mut ws, "base", "regress").unwrap();
        assert_eq!(d.diff.introduced.len(), 1);
        for series in [&regress, &moved, &mbox] {
            let r = analyze_series(&mut ws, "base", series, false).unwrap();
            assert!(
                r.patches
                    .iter()
                    .all(|p| matches!(p.result, PatchResult::Applied)),
                "{}",
                render::series_text(&r)
            );
        }
        // The patched tree is the branch's: the same objects were made.
        let r = analyze_series(&mut ws, "base", &regress, false).unwrap();
        assert_eq!(
            r.last.tree,
            ws.resolve("regress").unwrap(),
            "the series recreates the branch's tree"
        );
    }
    let after = (states(&git_dir), states(&clone));
    let mut changed = differences(&before.0, &after.0);
    changed.extend(differences(&before.1, &after.1));
    assert!(changed.is_empty(), "the run wrote: {changed:#?}");
}

/// The loose object of `path` in the `base` commit, deleted: what a partial
/// clone (`--filter=blob:none`) that never fetched it looks like to libgit2.
fn delete_blob(dir: &Path, repo: &git2::Repository, base: git2::Oid, path: &str) -> git2::Oid {
    let tree = repo.find_commit(base).unwrap().tree().unwrap();
    let oid = tree.get_path(Path::new(path)).unwrap().id();
    let hex = oid.to_string();
    std::fs::remove_file(dir.join(".git/objects").join(&hex[..2]).join(&hex[2..])).unwrap();
    oid
}

/// A missing blob skips its file, named with the blob, and the run goes on:
/// the other files' findings still come, in `diff` and in `series`.
#[test]
fn a_missing_blob_skips_its_file_only() {
    let (dir, repo, base) = seed_repo();
    commit_patch(&repo, base, "remove-downgrade.patch", "regress");
    let oid = delete_blob(dir.path(), &repo, base, "mm/mlock.c");
    drop(repo);
    let reason = format!("blob {oid} missing (partial clone?)");
    let mut ws = workspace(dir.path(), &[]);
    let d = diff_revisions(&mut ws, "base", "regress").unwrap();
    assert_eq!(d.diff.introduced.len(), 1, "munmap.c is still analyzed");
    assert_eq!(d.diff.introduced[0].file, "mm/munmap.c");
    assert!(
        d.old.report.findings.iter().all(|f| f.file != "mm/mlock.c"),
        "mlock.c was not analyzed"
    );
    let missing = d.missing_blobs();
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(
        (missing[0].file.as_str(), missing[0].reason.as_str()),
        ("mm/mlock.c", reason.as_str())
    );
    assert!(
        render::diff_text(&d).contains(&format!("skipped (regress): mm/mlock.c: {reason}")),
        "{}",
        render::diff_text(&d)
    );

    // The series' patch 2 edits the missing file: it fails naming it; the
    // others apply and patch 1's finding is reported.
    let series = mmstall_series::load_series(&fixtures().join("series.mbox")).unwrap();
    let r = analyze_series(&mut ws, "base", &series, true).unwrap();
    assert_eq!(r.patches[0].introduced.len(), 1);
    match &r.patches[1].result {
        PatchResult::Failed { file, .. } => assert_eq!(file.as_deref(), Some("mm/mlock.c")),
        other => panic!("{other:?}"),
    }
    assert_eq!(r.missing_blobs.len(), 1);
    let text = render::series_text(&r);
    assert!(
        text.contains(&format!("skipped: mm/mlock.c: {reason}")),
        "{text}"
    );
}

/// `HEAD~1` of a `--depth 1` clone: the error says the history is not
/// there, naming the commit whose parent is missing.
#[test]
fn a_shallow_clone_names_the_missing_history() {
    let (dir, repo, base) = seed_repo();
    let regress = commit_patch(&repo, base, "remove-downgrade.patch", "regress");
    drop(repo);
    let parent = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    git(
        parent.path(),
        &[
            "clone", "-q", "--depth", "1", "--branch", "regress", &url, "shallow",
        ],
    );
    let shallow = parent.path().join("shallow");
    let mut ws = workspace(&shallow, &[]);
    let err = diff_revisions(&mut ws, "HEAD~1", "HEAD").unwrap_err();
    assert!(
        matches!(&err, RevisionsError::ShallowHistory { rev, commit } if rev == "HEAD~1" && *commit == regress.to_string()),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("HEAD~1: not in this shallow clone (parent of {regress} is missing; fetch more history, e.g. `git fetch --deepen=N`)")
    );
    // `^` and `~N` too; a revision that does not exist at all is not blamed
    // on the shallow history.
    for rev in ["HEAD^", "HEAD~2", "regress^1"] {
        let err = ws.resolve(rev).unwrap_err();
        assert!(
            matches!(err, RevisionsError::ShallowHistory { .. }),
            "{rev}: {err:?}"
        );
    }
    let err = ws.resolve("no-such-branch~1").unwrap_err();
    assert!(matches!(err, RevisionsError::BadRev { .. }), "{err:?}");
}

/// A partial clone without trees (`--filter=tree:0`) misses directories:
/// the directory is skipped and named, the rest is analyzed (libgit2's tree
/// walk used to abort the whole revision).
#[test]
fn a_missing_tree_skips_its_directory_only() {
    let (dir, repo, base) = seed_repo();
    let regress = commit_patch(&repo, base, "remove-downgrade.patch", "regress");
    let mut drivers = BTreeMap::new();
    drivers.insert(
        "demo.c".to_string(),
        b"void demo(struct mm_struct *mm)\n{\n\tmmap_write_lock(mm);\n\tzap_page_range_single(0, 0, 0, 0);\n\tmmap_write_unlock(mm);\n}\n".to_vec(),
    );
    let drivers_tree = write_tree(&repo, &drivers);
    let mut root = repo
        .treebuilder(Some(&repo.find_commit(regress).unwrap().tree().unwrap()))
        .unwrap();
    root.insert("drivers", drivers_tree, 0o040000).unwrap();
    let tree = root.write().unwrap();
    drop(root);
    commit(&repo, "refs/heads/drivers", tree, Some(regress), "drivers");
    let hex = drivers_tree.to_string();
    std::fs::remove_file(
        dir.path()
            .join(".git/objects")
            .join(&hex[..2])
            .join(&hex[2..]),
    )
    .unwrap();
    drop(repo);
    let mut ws = workspace(dir.path(), &[]);
    let d = diff_revisions(&mut ws, "base", "drivers").unwrap();
    assert_eq!(d.diff.introduced.len(), 1, "mm/ is still analyzed");
    assert_eq!(d.diff.introduced[0].file, "mm/munmap.c");
    let missing = d.missing_blobs();
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(
        (missing[0].file.as_str(), missing[0].reason.as_str()),
        (
            "drivers/",
            format!("tree {drivers_tree} missing (partial clone?)").as_str()
        )
    );
}
