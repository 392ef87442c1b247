//! `diff` and `series` on temporary repositories built from the seed
//! fixtures: a removed downgrade (introduces MMS002), population moved after
//! the unlock (fixes MMS001), code only moved (no change), a patch that does
//! not apply, a malformed mbox.

mod common;

use common::*;
use mmstall_analyzer::Catalogue;
use mmstall_revisions::{
    analyze_series, diff_revisions, render, snapshot, PatchResult, PathFilter, RevisionsError,
    Workspace,
};

fn workspace(repo: &git2::Repository, paths: &[&str]) -> Workspace {
    Workspace::open(repo.path(), Catalogue::builtin(), PathFilter::new(paths)).unwrap()
}

#[test]
fn removing_a_downgrade_introduces_a_write_hold_zap() {
    let (dir, repo, base) = seed_repo();
    commit_patch(&repo, base, "remove-downgrade.patch", "regress");
    let mut ws = workspace(&repo, &[]);
    let r = diff_revisions(&mut ws, "base", "regress").unwrap();
    assert_eq!(r.changed_files, vec!["mm/munmap.c"]);
    assert_eq!(r.diff.introduced.len(), 1, "{:#?}", r.diff.introduced);
    let f = &r.diff.introduced[0];
    assert_eq!(
        (
            f.code,
            f.file.as_str(),
            f.function.as_str(),
            f.operation.as_str()
        ),
        (
            "MMS002",
            "mm/munmap.c",
            "do_munmap_downgrade",
            "unmap_region"
        )
    );
    assert!(r.diff.fixed.is_empty());
    assert!(r.introduced_anything());
    insta::assert_snapshot!(
        "diff_remove_downgrade",
        redact(&render::diff_text(&r), dir.path())
    );
}

#[test]
fn populating_after_the_unlock_fixes_a_write_hold_populate() {
    let (_dir, repo, base) = seed_repo();
    commit_patch(&repo, base, "populate-after-unlock.patch", "fix");
    let mut ws = workspace(&repo, &["mm"]);
    let r = diff_revisions(&mut ws, "base", "fix").unwrap();
    assert!(r.diff.introduced.is_empty(), "{:#?}", r.diff.introduced);
    assert_eq!(r.diff.fixed.len(), 1);
    let f = &r.diff.fixed[0];
    assert_eq!(
        (f.code, f.holder.as_str(), f.operation.as_str()),
        ("MMS001", "old_do_mlock", "make_pages_present")
    );
    assert!(!r.introduced_anything());
    insta::assert_snapshot!("diff_populate_after_unlock", render::diff_text(&r));
    // The SARIF holds the introduced findings only: none here.
    let sarif: serde_json::Value = serde_json::from_str(&render::diff_sarif(&r)).unwrap();
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 0);
}

#[test]
fn moving_code_changes_no_finding() {
    let (_dir, repo, base) = seed_repo();
    commit_patch(&repo, base, "move-only.patch", "moved");
    let mut ws = workspace(&repo, &[]);
    let r = diff_revisions(&mut ws, "base", "moved").unwrap();
    assert!(r.diff.is_empty(), "{}", render::diff_text(&r));
    assert_eq!(r.diff.unchanged.len(), r.old.report.findings.len());
    // The lines did move: the fingerprints ignore them.
    let lines = |a: &mmstall_revisions::Analysis| {
        a.report
            .findings
            .iter()
            .filter(|f| f.file == "mm/mlock.c")
            .map(|f| f.line)
            .collect::<Vec<_>>()
    };
    assert_ne!(lines(&r.old), lines(&r.new));
    insta::assert_snapshot!("diff_move_only_json", {
        let mut v: serde_json::Value = serde_json::from_str(&render::diff_json(&r)).unwrap();
        for side in ["old", "new"] {
            v[side]["timing"] = "[timing]".into();
        }
        serde_json::to_string_pretty(&v).unwrap()
    });
}

#[test]
fn path_prefixes_restrict_the_analysis() {
    let (_dir, repo, base) = seed_repo();
    commit_patch(&repo, base, "remove-downgrade.patch", "regress");
    let mut ws = workspace(&repo, &["mm/mlock.c"]);
    let r = diff_revisions(&mut ws, "base", "regress").unwrap();
    assert!(r.diff.introduced.is_empty() && r.changed_files.is_empty());
    assert!(r.new.report.findings.iter().all(|f| f.file == "mm/mlock.c"));
    assert_eq!(r.new.report.stats.files, 1);
}

#[test]
fn path_prefixes_selecting_nothing_are_an_error() {
    let (_dir, repo, _) = seed_repo();
    let mut ws = workspace(&repo, &["mmm", "kernel/"]);
    let err = diff_revisions(&mut ws, "base", "base").unwrap_err();
    assert_eq!(
        err.to_string(),
        "no .c or .h file under kernel, mmm in base or base"
    );
}

#[test]
fn a_bad_revision_is_named() {
    let (_dir, repo, _) = seed_repo();
    let mut ws = workspace(&repo, &[]);
    let err = diff_revisions(&mut ws, "base", "no-such-branch").unwrap_err();
    assert!(
        matches!(err, RevisionsError::BadRev { ref rev, .. } if rev == "no-such-branch"),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("revision `no-such-branch` does not name a commit or tree in "),
        "{err}"
    );
    let err = Workspace::open(
        std::path::Path::new("/no/such/repo"),
        Catalogue::builtin(),
        PathFilter::default(),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("/no/such/repo"), "{err}");
}

#[test]
fn series_credits_each_patch() {
    let (dir, repo, _) = seed_repo();
    let head_before = repo.refname_to_id("refs/heads/base").unwrap();
    let series = mmstall_series::load_series(&fixtures().join("series.mbox")).unwrap();
    let mut ws = workspace(&repo, &[]);
    let r = analyze_series(&mut ws, "base", &series, false).unwrap();
    assert_eq!(r.patches.len(), 3);
    let counts: Vec<(usize, usize)> = r
        .patches
        .iter()
        .map(|p| (p.introduced.len(), p.fixed.len()))
        .collect();
    assert_eq!(counts, vec![(1, 0), (0, 1), (0, 0)]);
    assert_eq!(r.patches[0].introduced[0].code, "MMS002");
    assert_eq!(r.patches[1].fixed[0].code, "MMS001");
    assert_eq!(r.exit_code(), 1);
    // The move-only patch changed mlock.c but no finding.
    assert_eq!(r.patches[2].changed_files, vec!["mm/mlock.c"]);
    insta::assert_snapshot!("series_text", redact(&render::series_text(&r), dir.path()));
    insta::assert_snapshot!(
        "series_markdown",
        redact(&render::series_markdown(&r), dir.path())
    );
    // Objects only: the branch, HEAD and the (empty) work tree are untouched.
    assert_eq!(repo.refname_to_id("refs/heads/base").unwrap(), head_before);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "only .git in the work tree"
    );
    assert!(repo.index().unwrap().is_empty());
}

#[test]
fn a_patch_that_does_not_apply_stops_the_run_or_is_skipped() {
    let (dir, repo, _) = seed_repo();
    let series = mmstall_series::load_series(&fixtures().join("failing.mbox")).unwrap();
    let mut ws = workspace(&repo, &[]);
    let r = analyze_series(&mut ws, "base", &series, false).unwrap();
    let status: Vec<&str> = r
        .patches
        .iter()
        .map(|p| match p.result {
            PatchResult::Applied => "applied",
            PatchResult::Failed { .. } => "failed",
            PatchResult::NotAttempted => "not attempted",
        })
        .collect();
    assert_eq!(status, vec!["applied", "failed", "not attempted"]);
    match &r.patches[1].result {
        PatchResult::Failed { file, hunk, error } => {
            assert_eq!(file.as_deref(), Some("mm/munmap.c"));
            assert_eq!(*hunk, Some(1));
            assert!(error.contains("hunk #1"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    // Nothing introduced, a patch failed: infrastructure exit code.
    assert_eq!(r.exit_code(), 3);
    insta::assert_snapshot!("series_stops", redact(&render::series_text(&r), dir.path()));

    let r = analyze_series(&mut ws, "base", &series, true).unwrap();
    assert!(matches!(r.patches[2].result, PatchResult::Applied));
    assert_eq!(r.patches[2].introduced.len(), 1);
    assert_eq!(r.exit_code(), 1);
    insta::assert_snapshot!("series_keep_going_json", {
        let mut v: serde_json::Value = serde_json::from_str(&render::series_json(&r)).unwrap();
        v["series"] = "[fixtures]/failing.mbox".into();
        v["base_tree"] = "[tree]".into();
        for p in v["patches"].as_array_mut().unwrap() {
            if p.get("timing").is_some() {
                p["timing"] = "[timing]".into();
            }
        }
        serde_json::to_string_pretty(&v).unwrap()
    });
}

#[test]
fn a_malformed_mbox_is_an_input_error() {
    let err = mmstall_series::load_series(&fixtures().join("malformed.mbox")).unwrap_err();
    insta::assert_snapshot!(
        "malformed_mbox",
        err.to_string()
            .replace(&fixtures().display().to_string(), "[fixtures]")
    );
}

#[test]
fn unchanged_trees_are_analyzed_once() {
    let (_dir, repo, base) = seed_repo();
    // A commit that changes only the README: the C files are the same.
    let tree = repo.find_commit(base).unwrap().tree().unwrap();
    let mut tb = repo.treebuilder(Some(&tree)).unwrap();
    tb.insert("README", repo.blob(b"changed\n").unwrap(), 0o100644)
        .unwrap();
    let t = tb.write().unwrap();
    commit(&repo, "refs/heads/docs", t, Some(base), "docs");
    let mut ws = workspace(&repo, &[]);
    let r = diff_revisions(&mut ws, "base", "docs").unwrap();
    assert!(r.new.timing.reused && !r.old.timing.reused);
    assert!(r.diff.is_empty() && r.changed_files.is_empty());
}

#[test]
fn snapshots_are_line_insensitive_and_sorted() {
    let (_dir, repo, base) = seed_repo();
    commit_patch(&repo, base, "move-only.patch", "moved");
    commit_patch(&repo, base, "remove-downgrade.patch", "regress");
    let mut ws = workspace(&repo, &[]);
    let snap = |ws: &mut Workspace, rev: &str| {
        let t = ws.resolve(rev).unwrap();
        snapshot::render(&ws.analyze(t).unwrap().report.findings)
    };
    let base_snap = snap(&mut ws, "base");
    assert_eq!(
        base_snap,
        snap(&mut ws, "moved"),
        "moving code does not change the snapshot"
    );
    let mut reversed = ws
        .analyze(ws.resolve("base").unwrap())
        .unwrap()
        .report
        .findings
        .clone();
    reversed.reverse();
    assert_eq!(snapshot::render(&reversed), base_snap);
    insta::assert_snapshot!("snapshot_base", base_snap);
    match snapshot::check("findings.snap", Some(&base_snap), &snap(&mut ws, "regress")) {
        snapshot::Check::Changed(d) => insta::assert_snapshot!("snapshot_check_diff", d),
        snapshot::Check::Same => panic!("the regression changes the snapshot"),
    }
}

fn object_files(repo: &git2::Repository) -> usize {
    fn count(p: &std::path::Path) -> usize {
        std::fs::read_dir(p)
            .map(|d| {
                d.flatten()
                    .map(|e| {
                        if e.path().is_dir() {
                            count(&e.path())
                        } else {
                            1
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    count(&repo.path().join("objects"))
}

#[test]
fn a_series_writes_nothing_into_the_repository() {
    let (_dir, repo, _) = seed_repo();
    let before = object_files(&repo);
    // 70 new files: more than the serial read path, so the parallel readers
    // (which see the disk only) must find them through the in-memory backend.
    let mut patch =
        String::from("From: T <t@mmstall.invalid>\nSubject: [PATCH] mm: many new files\n\n---\n");
    for i in 0..70 {
        patch.push_str(&format!(
            "diff --git a/mm/new{i}.c b/mm/new{i}.c\nnew file mode 100644\n--- /dev/null\n+++ b/mm/new{i}.c\n@@ -0,0 +1,6 @@\n+void new{i}(struct mm_struct *mm)\n+{{\n+\tmmap_write_lock(mm);\n+\tzap_page_range_single(0, 0, 0, 0);\n+\tmmap_write_unlock(mm);\n+}}\n"
        ));
    }
    let series =
        mmstall_series::parse_series(patch.as_bytes(), std::path::Path::new("many.patch")).unwrap();
    let mut ws = workspace(&repo, &[]);
    let r = analyze_series(&mut ws, "base", &series, false).unwrap();
    assert!(
        matches!(r.patches[0].result, PatchResult::Applied),
        "{:?}",
        r.patches[0].result
    );
    assert_eq!(r.patches[0].changed_files.len(), 70);
    assert_eq!(
        r.patches[0].introduced.len(),
        70,
        "{}",
        render::series_text(&r)
    );
    drop(ws);
    assert_eq!(object_files(&repo), before, "objects were written to disk");
}

/// A patch inserting four comment lines after line 1 of `mm/NAME`: every
/// finding of the file moves four lines down.
fn move_down_patch(name: &str) -> mmstall_series::Patch {
    let text = std::fs::read_to_string(seeds().join(name)).unwrap();
    let first: Vec<&str> = text.lines().take(3).collect();
    let mail = format!(
        "From: T <t@mmstall.invalid>\nSubject: [PATCH] mm/{name}: move everything down\n\n---\n\
         diff --git a/mm/{name} b/mm/{name}\n--- a/mm/{name}\n+++ b/mm/{name}\n\
         @@ -1,3 +1,7 @@\n {}\n+/*\n+ * Four lines that move\n+ * every finding down.\n+ */\n {}\n {}\n",
        first[0], first[1], first[2]
    );
    let series =
        mmstall_series::parse_series(mail.as_bytes(), std::path::Path::new("move.patch")).unwrap();
    series.patches.into_iter().next().unwrap()
}

/// The source line shown under each finding of a patch is the line of the
/// tree that finding belongs to (introduced: after the patch; fixed: before
/// it), not the line of the same number after the last patch.
#[test]
fn series_excerpts_come_from_each_patch_tree() {
    let (_dir, repo, _) = seed_repo();
    let loaded = mmstall_series::load_series(&fixtures().join("series.mbox")).unwrap();
    let (regress, fix) = (loaded.patches[0].clone(), loaded.patches[1].clone());
    let mut series = loaded.clone();
    series.patches = vec![
        regress,
        move_down_patch("munmap.c"),
        fix,
        move_down_patch("mlock.c"),
    ];
    for (i, p) in series.patches.iter_mut().enumerate() {
        p.index = i + 1;
    }
    let mut ws = workspace(&repo, &[]);
    let r = analyze_series(&mut ws, "base", &series, false).unwrap();
    let counts: Vec<(usize, usize)> = r
        .patches
        .iter()
        .map(|p| (p.introduced.len(), p.fixed.len()))
        .collect();
    assert_eq!(counts, vec![(1, 0), (0, 0), (0, 1), (0, 0)]);
    let text = render::series_text(&r);
    let lines: Vec<&str> = text.lines().collect();
    let shown = r.patches[0]
        .introduced
        .iter()
        .chain(&r.patches[2].fixed)
        .collect::<Vec<_>>();
    assert_eq!(shown.len(), 2);
    for f in shown {
        let head = format!("{}:{}:{}:", f.file, f.line, f.column);
        let at = lines
            .iter()
            .position(|l| l.contains(&head))
            .unwrap_or_else(|| panic!("no line for {head} in\n{text}"));
        // Heading, empty gutter, then `LINE | source`.
        let excerpt = lines.get(at + 2).copied().unwrap_or("");
        assert!(
            excerpt.contains(&format!("{} |", f.line)) && excerpt.contains(&f.operation),
            "excerpt of {head} (`{}`) is not its line: {excerpt:?}\n{text}",
            f.operation
        );
    }
}

/// A commit adding one zap reached by four holders (the analyzer's `sites`
/// fixture): `diff` prints it as one introduced site with its four holder
/// paths and their triggers, as `lint` does; JSON keeps four records.
#[test]
fn an_introduced_site_is_one_item_with_its_holders() {
    let (dir, repo, base) = seed_repo();
    let sites =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../analyzer/tests/fixtures/sites");
    let mut files = std::collections::BTreeMap::new();
    let base_tree = repo.find_commit(base).unwrap().tree().unwrap();
    base_tree
        .walk(git2::TreeWalkMode::PreOrder, |root, entry| {
            if let Ok(blob) = entry.to_object(&repo).and_then(|o| o.peel_to_blob()) {
                let name = format!("{root}{}", entry.name().unwrap());
                files.insert(name, blob.content().to_vec());
            }
            git2::TreeWalkResult::Ok
        })
        .unwrap();
    for rel in ["zap.c", "arch/alpha_demo/fault.c", "arch/arm_demo/fault.c"] {
        files.insert(rel.to_string(), std::fs::read(sites.join(rel)).unwrap());
    }
    let tree = write_tree(&repo, &files);
    commit(&repo, "refs/heads/sites", tree, Some(base), "sites");
    let mut ws = workspace(&repo, &[]);
    let r = diff_revisions(&mut ws, "base", "sites").unwrap();
    assert_eq!(r.diff.introduced.len(), 4, "{:#?}", r.diff.introduced);
    let text = render::diff_text(&r);
    assert_eq!(
        text.matches("warning[MMS002]: introduced:").count(),
        1,
        "{text}"
    );
    insta::assert_snapshot!("diff_introduced_site", redact(&text, dir.path()));
    let json: serde_json::Value = serde_json::from_str(&render::diff_json(&r)).unwrap();
    let introduced = json["introduced"].as_array().unwrap();
    assert_eq!(introduced.len(), 4);
    assert!(introduced
        .iter()
        .all(|f| f["site_id"] == introduced[0]["site_id"]));
}
