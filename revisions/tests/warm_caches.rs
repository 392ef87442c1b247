//! A workspace's caches (blobs, scans and parses by content, finished
//! analyses) never change a result: every tree a diff or a series analyzes
//! with warm caches gets exactly the findings (and sources) a fresh
//! workspace gets for it alone.

mod common;

use std::collections::BTreeMap;

use common::*;
use git2::Oid;
use mmstall_analyzer::Catalogue;
use mmstall_revisions::{analyze_series, diff_revisions, Analysis, PathFilter, Workspace};

fn workspace(repo: &git2::Repository) -> Workspace {
    Workspace::open(
        repo.path(),
        Catalogue::builtin(),
        PathFilter::new::<&str>(&[]),
    )
    .unwrap()
}

/// Everything an analysis reports but its timing.
fn outcome(a: &Analysis) -> String {
    let mut report = serde_json::to_value(&a.report).unwrap();
    report["stats"]["elapsed_ms"] = 0.into();
    let sources: BTreeMap<&String, &String> = a.sources.iter().collect();
    format!("{report:#}\n{sources:#?}\n{:?}", a.files)
}

fn cold(repo: &git2::Repository, tree: Oid) -> String {
    outcome(&workspace(repo).analyze(tree).unwrap())
}

#[test]
fn diffs_with_warm_caches_equal_cold_runs() {
    let (_dir, repo, base) = seed_repo();
    let patches = [
        "remove-downgrade.patch",
        "populate-after-unlock.patch",
        "move-only.patch",
    ];
    for (i, p) in patches.iter().enumerate() {
        commit_patch(&repo, base, p, &format!("p{i}"));
    }
    // One workspace for every diff: later ones start with everything cached.
    let mut ws = workspace(&repo);
    for i in 0..patches.len() {
        for (old, new) in [
            ("base".to_string(), format!("p{i}")),
            (format!("p{i}"), "base".to_string()),
        ] {
            let r = diff_revisions(&mut ws, &old, &new).unwrap();
            assert_eq!(outcome(&r.old), cold(&repo, r.old.tree), "{old}");
            assert_eq!(outcome(&r.new), cold(&repo, r.new.tree), "{new}");
        }
    }
}

#[test]
fn a_series_with_warm_caches_equals_cold_runs_of_each_patched_tree() {
    let (_dir, repo, base) = seed_repo();
    let series = mmstall_series::load_series(&fixtures().join("series.mbox")).unwrap();
    let mut ws = workspace(&repo);
    let report = analyze_series(&mut ws, "base", &series, false).unwrap();
    assert_eq!(report.patches.len(), 3);
    let mut tree = repo.find_commit(base).unwrap().tree_id();
    assert_eq!(outcome(&ws.analyze(tree).unwrap()), cold(&repo, tree));
    for patch in &series.patches {
        tree = mmstall_series::apply_to_tree(&repo, tree, patch).unwrap();
        assert_eq!(
            outcome(&ws.analyze(tree).unwrap()),
            cold(&repo, tree),
            "after {}",
            patch.subject
        );
    }
}

/// A write holder whose long operation, if any, is three calls down, each
/// step in a file of its own; only the last file differs between revisions.
fn chain_tree(repo: &git2::Repository, leaf: &str) -> Oid {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(seeds()).unwrap() {
        let p = entry.unwrap().path();
        files.insert(
            format!("mm/{}", p.file_name().unwrap().to_string_lossy()),
            std::fs::read(&p).unwrap(),
        );
    }
    let chain = [
        ("mm/chain_holder.c", "void chain_holder(struct mm_struct *mm)\n{\n\tmmap_write_lock(mm);\n\tchain_step_one(mm);\n\tmmap_write_unlock(mm);\n}\n".to_string()),
        ("mm/chain_one.c", "void chain_step_one(struct mm_struct *mm)\n{\n\tchain_step_two(mm);\n}\n".to_string()),
        ("mm/chain_two.c", "void chain_step_two(struct mm_struct *mm)\n{\n\tchain_step_three(mm);\n}\n".to_string()),
        ("mm/chain_three.c", format!("void chain_step_three(struct mm_struct *mm)\n{{\n{leaf}}}\n")),
    ];
    for (path, text) in chain {
        files.insert(path.to_string(), text.into_bytes());
    }
    write_tree(repo, &files)
}

#[test]
fn a_changed_callee_deep_in_a_chain_changes_a_finding_in_an_unchanged_file() {
    let (_dir, repo, _) = seed_repo();
    let quiet = chain_tree(&repo, "\tmm->flags = 0;\n");
    let long = chain_tree(&repo, "\tunmap_vmas(NULL, NULL, 0, 0, 0, false);\n");
    let mut ws = workspace(&repo);
    let r = diff_revisions(&mut ws, &quiet.to_string(), &long.to_string()).unwrap();
    assert_eq!(r.changed_files, vec!["mm/chain_three.c"]);
    // Held in the unchanged holder's file, reported at the changed long call.
    let introduced: Vec<(&str, &str, &str, &str)> = r
        .diff
        .introduced
        .iter()
        .map(|f| {
            (
                f.acquired_at.file.as_str(),
                f.holder.as_str(),
                f.file.as_str(),
                f.operation.as_str(),
            )
        })
        .collect();
    assert_eq!(
        introduced,
        vec![(
            "mm/chain_holder.c",
            "chain_holder",
            "mm/chain_three.c",
            "unmap_vmas"
        )]
    );
    assert_eq!(r.new.timing.files_scanned, 1, "{:?}", r.new.timing);
    assert_eq!(outcome(&r.new), cold(&repo, long));
    // And back: the finding is fixed.
    let back = diff_revisions(&mut ws, &long.to_string(), &quiet.to_string()).unwrap();
    assert_eq!(back.diff.fixed.len(), 1);
    assert!(back.diff.introduced.is_empty());
    assert_eq!(outcome(&back.new), cold(&repo, quiet));
}
