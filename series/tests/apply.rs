//! Applying series onto temporary directories and onto git trees built with
//! git2, checked against what git itself produced from the same patches.

mod common;

use std::fs;
use std::path::Path;

use common::{
    base_dir, base_repo, fixture, mode_of, read_tree_file, AFTER_FIRST_TWO_TREE, BASE_TREE,
    SERIES_TREE,
};
use git2::{Oid, Repository, Signature};
use mmstall_series::{
    apply_series_to_dir, apply_series_to_tree, apply_to_dir, apply_to_dir_reporting_offsets,
    apply_to_tree, load_series, parse_series, ApplyFailure, ApplyOptions, PatchStatus, Series,
    SeriesApplication,
};

fn load(name: &str) -> Series {
    load_series(&fixture(name)).unwrap_or_else(|error| panic!("{name}: {error}"))
}

/// Patch by patch: index, subject, status (and the error message).
fn summary(application: &SeriesApplication) -> String {
    let mut out = String::new();
    for outcome in &application.outcomes {
        let status = match &outcome.status {
            PatchStatus::Applied => "applied".to_string(),
            PatchStatus::Failed(error) => format!("FAILED: {error}"),
            PatchStatus::NotAttempted => "not attempted".to_string(),
        };
        out.push_str(&format!(
            "{} {:?}: {status}\n",
            outcome.index, outcome.subject
        ));
    }
    out
}

#[test]
fn base_fixture_has_the_tree_id_git_gives_it() {
    let (_temp, _repo, base) = base_repo();
    assert_eq!(base.to_string(), BASE_TREE);
}

#[test]
fn series_onto_tree_matches_git() {
    let (_temp, repo, base) = base_repo();
    for name in ["format-patch.mbox", "dir"] {
        let series = load(name);
        let application = apply_series_to_tree(&repo, base, &series, ApplyOptions::default());
        assert!(
            application.all_applied(),
            "{name}:\n{}",
            summary(&application)
        );
        assert_eq!(
            application.final_tree.map(|t| t.to_string()).as_deref(),
            Some(SERIES_TREE),
            "{name}"
        );
        let second = &application.outcomes[1];
        assert_eq!(
            second.tree_after.map(|t| t.to_string()).as_deref(),
            Some(AFTER_FIRST_TWO_TREE)
        );
        assert_eq!(application.outcomes[0].tree_before, Some(base));
        assert!(application.outcomes.iter().all(|o| o.offsets.is_empty()));
    }
}

#[test]
fn series_onto_directory_matches_git() {
    let dir = base_dir();
    let series = load("format-patch.mbox");
    let application = apply_series_to_dir(&series, dir.path(), ApplyOptions::default());
    assert!(application.all_applied(), "{}", summary(&application));

    let root = dir.path();
    let stall = fs::read_to_string(root.join("mm/stall.c")).unwrap();
    assert!(stall.contains("\tdemo_fault_in(mm, addr);\n\tmmap_write_unlock(mm);\n"));
    assert!(!stall.contains("mmap_write_downgrade"));
    assert_eq!(
        fs::read(root.join("mm/stall_trace.h")).unwrap(),
        b"/* SPDX-License-Identifier: GPL-2.0 */\n#define DEMO_TRACE_ON 1"
    );
    assert!(!root.join("mm/old_helper.c").exists());
    assert!(!root.join("include/demo_lock.h").exists());
    assert!(fs::read_to_string(root.join("include/demo_locking.h"))
        .unwrap()
        .contains("DEMO_LOCK_TIMEOUT\t200"));
    assert_eq!(mode_of(&root.join("scripts/demo.sh")), 0o755);

    // The directory now holds exactly the tree git made.
    let temp = tempfile::tempdir().unwrap();
    let repo = Repository::init_bare(temp.path()).unwrap();
    let mut tree = common::tree_from_dir(&repo, root);
    // tree_from_dir writes every file as 100644; the mode was checked above.
    let updated = {
        let mut update = git2::build::TreeUpdateBuilder::new();
        let (content, _) = read_tree_file(&repo, tree, "scripts/demo.sh").unwrap();
        update.upsert(
            "scripts/demo.sh",
            repo.blob(&content).unwrap(),
            git2::FileMode::BlobExecutable,
        );
        update
            .create_updated(&repo, &repo.find_tree(tree).unwrap())
            .unwrap()
    };
    tree = updated;
    assert_eq!(tree.to_string(), SERIES_TREE);
}

#[test]
fn hunk_applies_at_an_offset() {
    let dir = base_dir();
    let stall = dir.path().join("mm/stall.c");
    let original = fs::read_to_string(&stall).unwrap();
    // Four lines more above the function: the hunk stated line 11.
    let shifted = original.replace(
        "#include <linux/mmap_lock.h>\n",
        "#include <linux/mmap_lock.h>\n#include <linux/sched.h>\n\n/* Added upstream since the series was written. */\n#define DEMO_BATCH 16\n",
    );
    fs::write(&stall, &shifted).unwrap();
    let series = load("single.patch");
    let offsets = apply_to_dir_reporting_offsets(&series.patches[0], dir.path()).unwrap();
    let offsets: Vec<String> = offsets.iter().map(ToString::to_string).collect();
    assert_eq!(
        offsets,
        ["mm/stall.c: hunk #1 applied at line 15 (offset 4 lines)"]
    );
    let result = fs::read_to_string(&stall).unwrap();
    assert!(result.contains("#define DEMO_BATCH 16\n"));
    assert!(result.contains("\tdemo_fault_in(mm, addr);\n\tmmap_write_unlock(mm);\n"));

    // The same on a tree.
    let (_temp, repo, base) = base_repo();
    let shifted_blob = repo.blob(shifted.as_bytes()).unwrap();
    let mut update = git2::build::TreeUpdateBuilder::new();
    update.upsert("mm/stall.c", shifted_blob, git2::FileMode::Blob);
    let shifted_tree = update
        .create_updated(&repo, &repo.find_tree(base).unwrap())
        .unwrap();
    let after = apply_to_tree(&repo, shifted_tree, &series.patches[0]).unwrap();
    let (content, _) = read_tree_file(&repo, after, "mm/stall.c").unwrap();
    assert_eq!(String::from_utf8(content).unwrap(), result);
}

#[test]
fn hunk_that_does_not_apply_is_named() {
    let dir = base_dir();
    let stall = dir.path().join("mm/stall.c");
    let original = fs::read_to_string(&stall).unwrap();
    fs::write(
        &stall,
        original.replace(
            "\tmmap_write_downgrade(mm);\n",
            "\tmmap_write_downgrade_nested(mm);\n",
        ),
    )
    .unwrap();
    let before = fs::read(&stall).unwrap();
    let series = load("single.patch");
    let error = apply_to_dir(&series.patches[0], dir.path()).unwrap_err();
    assert_eq!(error.patch_index, 1);
    assert_eq!(error.file.as_deref(), Some("mm/stall.c"));
    match &error.reason {
        ApplyFailure::HunkMismatch {
            hunk,
            expected_line,
            already_applied,
            ..
        } => {
            assert_eq!((*hunk, *expected_line, *already_applied), (1, 14, false));
        }
        other => panic!("unexpected failure {other:?}"),
    }
    insta::assert_snapshot!(error.to_string());
    // A failed patch leaves the directory as it was.
    assert_eq!(fs::read(&stall).unwrap(), before);
}

#[test]
fn already_applied_patch_is_recognized() {
    let (_temp, repo, base) = base_repo();
    let series = load("format-patch.mbox");
    let once = apply_to_tree(&repo, base, &series.patches[0]).unwrap();
    let error = apply_to_tree(&repo, once, &series.patches[0]).unwrap_err();
    assert!(matches!(
        error.reason,
        ApplyFailure::HunkMismatch {
            already_applied: true,
            ..
        }
    ));
    insta::assert_snapshot!("already_applied_modify", error.to_string());

    let twice = apply_to_tree(&repo, once, &series.patches[1]).unwrap();
    let error = apply_to_tree(&repo, twice, &series.patches[1]).unwrap_err();
    insta::assert_snapshot!("already_applied_create", error.to_string());

    let all = apply_series_to_tree(&repo, base, &series, ApplyOptions::default())
        .final_tree
        .unwrap();
    let error = apply_to_tree(&repo, all, &series.patches[2]).unwrap_err();
    insta::assert_snapshot!("already_applied_rename", error.to_string());
}

#[test]
fn keep_going_skips_the_failing_patch() {
    let series = load("keep-going.mbox");

    let (_temp, repo, base) = base_repo();
    let stopping = apply_series_to_tree(&repo, base, &series, ApplyOptions { keep_going: false });
    let going_on = apply_series_to_tree(&repo, base, &series, ApplyOptions { keep_going: true });
    insta::assert_snapshot!(format!(
        "stop:\n{}\nkeep going:\n{}",
        summary(&stopping),
        summary(&going_on)
    ));

    // Stopping keeps what applied before the failure.
    assert_eq!(stopping.final_tree, stopping.outcomes[0].tree_after);
    assert_eq!(stopping.outcomes[2].tree_before, None);
    // Keeping going applies patch 3 onto the tree of patch 1.
    assert_eq!(
        going_on.outcomes[2].tree_before,
        going_on.outcomes[0].tree_after
    );
    let last = going_on.final_tree.unwrap();
    assert!(read_tree_file(&repo, last, "mm/old_helper.c").is_none());
    assert!(read_tree_file(&repo, last, "include/demo_lock.h").is_some());
    assert_eq!(going_on.failures().count(), 1);

    let dir = base_dir();
    let on_dir = apply_series_to_dir(&series, dir.path(), ApplyOptions { keep_going: true });
    assert_eq!(summary(&on_dir), summary(&going_on));
    assert!(!dir.path().join("mm/old_helper.c").exists());
}

#[test]
fn binary_patch_is_reported_unsupported() {
    let dir = base_dir();
    let (_temp, repo, base) = base_repo();
    let mut messages = String::new();
    for name in ["binary.patch", "binary-differ.diff"] {
        let series = load(name);
        let on_dir = apply_to_dir(&series.patches[0], dir.path()).unwrap_err();
        let on_tree = apply_to_tree(&repo, base, &series.patches[0]).unwrap_err();
        assert_eq!(on_dir.to_string(), on_tree.to_string());
        messages.push_str(&format!("{on_dir}\n"));
    }
    insta::assert_snapshot!(messages);
}

#[test]
fn missing_and_existing_files() {
    let (_temp, repo, base) = base_repo();
    let series = load("format-patch.mbox");
    // Patch 3 onto the base: the Makefile does not have patch 2's line.
    let error = apply_to_tree(&repo, base, &series.patches[2]).unwrap_err();
    insta::assert_snapshot!("makefile_context", error.to_string());

    let dir = base_dir();
    fs::write(
        dir.path().join("mm/stall_trace.h"),
        "/* a different header */\n",
    )
    .unwrap();
    let error = apply_to_dir(&series.patches[1], dir.path()).unwrap_err();
    insta::assert_snapshot!("create_over_existing", error.to_string());

    fs::remove_file(dir.path().join("mm/stall.c")).unwrap();
    let error = apply_to_dir(&series.patches[0], dir.path()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "patch 1 \"mm/stall: fault in under the write lock\": mm/stall.c: file does not exist"
    );
}

#[test]
fn unsafe_paths_are_refused() {
    let patch = b"diff --git a/../outside.c b/../outside.c\nnew file mode 100644\n--- /dev/null\n+++ b/../outside.c\n@@ -0,0 +1 @@\n+int x;\n";
    let series = parse_series(patch, Path::new("evil.patch")).unwrap();
    let dir = base_dir();
    let error = apply_to_dir(&series.patches[0], dir.path()).unwrap_err();
    assert!(
        matches!(error.reason, ApplyFailure::UnsafePath(_)),
        "{error}"
    );
    assert!(!dir.path().parent().unwrap().join("outside.c").exists());
}

#[test]
fn tree_application_leaves_work_tree_index_and_refs_alone() {
    // A normal repository with a checked-out work tree and a commit.
    let temp = tempfile::tempdir().unwrap();
    let repo = Repository::init(temp.path()).unwrap();
    for (relative, content) in common::walk::files_under(&fixture("base")) {
        let path = temp.path().join(&relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
    }
    let mut index = repo.index().unwrap();
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.write().unwrap();
    let tree = index.write_tree().unwrap();
    let signature = Signature::new("Test", "test@example.org", &git2::Time::new(0, 0)).unwrap();
    let commit = repo
        .commit(
            Some("HEAD"),
            &signature,
            &signature,
            "base",
            &repo.find_tree(tree).unwrap(),
            &[],
        )
        .unwrap();
    let refs_before: Vec<(String, Option<Oid>)> = repo
        .references()
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            (r.name().unwrap_or_default().to_string(), r.target())
        })
        .collect();

    let series = load("format-patch.mbox");
    let application = apply_series_to_tree(&repo, tree, &series, ApplyOptions::default());
    assert_eq!(
        application.final_tree.map(|t| t.to_string()).as_deref(),
        Some(SERIES_TREE)
    );

    assert_eq!(repo.head().unwrap().target(), Some(commit));
    let refs_after: Vec<(String, Option<Oid>)> = repo
        .references()
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            (r.name().unwrap_or_default().to_string(), r.target())
        })
        .collect();
    assert_eq!(refs_before, refs_after);
    assert!(
        repo.statuses(None).unwrap().is_empty(),
        "work tree or index changed"
    );
    assert!(temp.path().join("mm/old_helper.c").exists());
}
