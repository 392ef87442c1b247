//! The scan cache (per-file results keyed by content id) never changes a
//! result: a run whose unchanged files come from the cache reports exactly
//! what a run without caches reports, in the small-tree mode (every file
//! scanned up front) and in the whole-tree mode (definitions looked up on
//! demand), including when a changed callee deep in a call chain changes the
//! finding of a caller in a file that did not change.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{fixture_tree, with_chain, IdTree, LONG, QUIET};
use mmstall_analyzer::source::SourceSet;
use mmstall_analyzer::{lint_set, Catalogue, LintOptions, LintRun, ParseCache, ScanCache};

fn seeds() -> IdTree {
    fixture_tree("seeds")
}

/// Everything a run reports but its elapsed time.
fn outcome(run: &LintRun) -> String {
    let mut report = serde_json::to_value(&run.report).unwrap();
    report["stats"]["elapsed_ms"] = 0.into();
    let sources: BTreeMap<&String, &String> = run.sources.iter().collect();
    format!("{report:#}\n{sources:#?}")
}

fn options(
    limit: Option<u64>,
    scan: Option<&Arc<ScanCache>>,
    parse: Option<&Arc<ParseCache>>,
) -> LintOptions {
    LintOptions {
        parse_cache: parse.cloned(),
        scan_cache: scan.cloned(),
        whole_scan_limit: limit,
        ..LintOptions::default()
    }
}

/// `trees` analyzed in order with warm caches, each against a cold run.
fn check_warm_equals_cold(trees: &[IdTree]) {
    let cat = Catalogue::builtin();
    // `Some(0)`: every fixture tree is "big", so the whole-tree path runs.
    for limit in [None, Some(0)] {
        let (scan, parse) = (
            Arc::new(ScanCache::default()),
            Arc::new(ParseCache::default()),
        );
        for (i, tree) in trees.iter().enumerate() {
            let cold = lint_set(tree, &cat, &options(limit, None, None));
            let warm = lint_set(tree, &cat, &options(limit, Some(&scan), Some(&parse)));
            assert_eq!(
                outcome(&warm),
                outcome(&cold),
                "tree {i}, whole-scan limit {limit:?}"
            );
            // Once more, every file now known by content.
            let hits = scan.hits();
            let again = lint_set(tree, &cat, &options(limit, Some(&scan), Some(&parse)));
            assert_eq!(
                outcome(&again),
                outcome(&cold),
                "tree {i} again, whole-scan limit {limit:?}"
            );
            assert_eq!(scan.hits() - hits, tree.list().len(), "{scan:?}");
        }
    }
}

fn holds(run: &LintRun, holder: &str) -> bool {
    run.report.findings.iter().any(|f| f.holder == holder)
}

#[test]
fn a_changed_callee_deep_in_a_chain_changes_the_holders_finding_as_a_cold_run_does() {
    let quiet = with_chain(seeds(), "", QUIET);
    let long = with_chain(seeds(), "", LONG);
    let cat = Catalogue::builtin();
    for limit in [None, Some(0)] {
        assert!(!holds(
            &lint_set(&quiet, &cat, &options(limit, None, None)),
            "chain_holder"
        ));
        assert!(
            holds(
                &lint_set(&long, &cat, &options(limit, None, None)),
                "chain_holder"
            ),
            "limit {limit:?}"
        );
    }
    check_warm_equals_cold(&[quiet.clone(), long.clone(), quiet]);
}

#[test]
fn edits_renames_and_removals_give_what_a_cold_run_gives() {
    let base = with_chain(seeds(), "", LONG);
    let mut moved = base.clone();
    let mlock = String::from_utf8(base.files["mm/mlock.c"].clone()).unwrap();
    moved.files.insert(
        "mm/mlock.c".into(),
        format!("/* moved */\n\n{mlock}").into_bytes(),
    );
    let mut renamed = moved.clone();
    let one = renamed.files.remove("mm/chain_one.c").unwrap();
    renamed.files.insert("mm/zz_chain_one.c".into(), one);
    let mut removed = renamed.clone();
    removed.files.remove("mm/chain_two.c");
    let mut binary = removed.clone();
    binary
        .files
        .insert("mm/chain_two.c".into(), b"\0binary".to_vec());
    binary
        .files
        .insert("mm/latin1.c".into(), b"/* \xe9 */\n".to_vec());
    // The same content under two paths.
    let mut twice = binary.clone();
    twice
        .files
        .insert("mm/copy_of_mlock.c".into(), mlock.into_bytes());
    check_warm_equals_cold(&[base, moved, renamed, removed, binary, twice]);
}

#[test]
fn line_sensitive_rules_give_with_caches_what_they_give_without() {
    // A chunk parsed through the parse cache has its lines moved into the
    // file afterwards: every line the rules compare must move with it.
    // The fault retry order fixtures: MMS004 compares marker and call lines.
    let tree = fixture_tree("fault_retry_order");
    let cold = lint_set(&tree, &Catalogue::builtin(), &options(None, None, None));
    assert!(
        cold.report
            .findings
            .iter()
            .filter(|f| f.code == "MMS004")
            .count()
            >= 3,
        "{:#?}",
        cold.report.findings
    );
    let mut moved = tree.clone();
    for text in moved.files.values_mut() {
        text.splice(0..0, b"/* moved down */\n\n\n".iter().copied());
    }
    check_warm_equals_cold(&[tree, moved]);
}

/// The flag-values fixture as it is on disk, paths kept.
fn flag_values_tree() -> IdTree {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/flag_values_scope");
    let mut tree = IdTree::default();
    for rel in [
        "include/linux/demo_flags.h",
        "drivers/demo/demo_regs.h",
        "mm/demo_lock.c",
    ] {
        tree.files
            .insert(rel.into(), std::fs::read(dir.join(rel)).unwrap());
    }
    tree
}

#[test]
fn a_flag_whose_value_changes_in_a_header_changes_the_finding_with_caches_too() {
    // Only include/linux/demo_flags.h changes: DEMO_WAIT_FLAG becomes 0x2,
    // the value of the DEMO_OTHER_FLAG that demo_flag_holder passes. The
    // holder's and the helper's texts are the same in both revisions, so
    // a summary kept from the first must not answer for the second.
    let before = flag_values_tree();
    let mut after = before.clone();
    let header = String::from_utf8(after.files["include/linux/demo_flags.h"].clone()).unwrap();
    after.files.insert(
        "include/linux/demo_flags.h".into(),
        header
            .replace("DEMO_WAIT_FLAG\t\t0x1", "DEMO_WAIT_FLAG\t\t0x2")
            .into_bytes(),
    );
    assert_ne!(after.files, before.files);
    let cat = Catalogue::builtin();
    // The whole-tree path reads the shared header's value only.
    assert!(!holds(
        &lint_set(&before, &cat, &options(Some(0), None, None)),
        "demo_flag_holder"
    ));
    assert!(holds(
        &lint_set(&after, &cat, &options(Some(0), None, None)),
        "demo_flag_holder"
    ));
    check_warm_equals_cold(&[before.clone(), after, before]);
}
