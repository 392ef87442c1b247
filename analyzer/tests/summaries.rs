//! Function summaries are a function of what a function can reach, not of
//! the order the analysis met them in; so they are reused between the
//! rounds of a run and between revisions, and recomputed only as far as a
//! change reaches.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use common::{IdTree, LONG, QUIET};
use mmstall_analyzer::{lint_set, Catalogue, LintOptions, LintRun, ScanCache};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/cycle_order")
            .join(name),
    )
    .unwrap()
}

/// The cycle fixture with its files at the given paths (the paths decide
/// the order functions, hence roots, are analyzed in).
fn cycle_tree(ping_pong: &str, root_ping: &str, root_pong: &str) -> IdTree {
    let mut files = BTreeMap::new();
    files.insert(ping_pong.to_string(), fixture("ping_pong.c"));
    files.insert(root_ping.to_string(), fixture("root_ping.c"));
    files.insert(root_pong.to_string(), fixture("root_pong.c"));
    IdTree { files }
}

type Summary = (String, &'static str, String, Vec<String>);

/// Findings without their file names: (holder, rule, long call, call path).
fn findings(run: &LintRun) -> Vec<Summary> {
    let mut out: Vec<Summary> = run
        .report
        .findings
        .iter()
        .map(|f| {
            (
                f.holder.clone(),
                f.code,
                f.operation.clone(),
                f.call_path.clone(),
            )
        })
        .collect();
    out.sort();
    out
}

fn options(limit: Option<u64>, scan: Option<&Arc<ScanCache>>) -> LintOptions {
    LintOptions {
        scan_cache: scan.cloned(),
        whole_scan_limit: limit,
        ..LintOptions::default()
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_cycle_gives_each_root_the_same_findings_whatever_root_is_analyzed_first() {
    let cat = Catalogue::builtin();
    let orders = [
        cycle_tree("mm/b_ping_pong.c", "mm/a_root.c", "mm/c_root.c"),
        cycle_tree("mm/b_ping_pong.c", "mm/c_root.c", "mm/a_root.c"),
        cycle_tree("mm/a_ping_pong.c", "mm/c_root.c", "mm/b_root.c"),
        cycle_tree("mm/c_ping_pong.c", "mm/b_root.c", "mm/a_root.c"),
    ];
    // Each entry to the cycle is analyzed on its own. From root_ping the
    // cycle is entered at ping: pong's call back to ping is cut, so pong
    // zaps under the write hold ping was entered with. From root_pong it is
    // entered at pong: ping's call back is cut, ping's unlock is seen, and
    // pong zaps after it.
    let expected: Vec<Summary> = vec![(
        "root_ping".into(),
        "MMS002",
        "unmap_vmas".into(),
        strings(&["root_ping", "ping", "pong"]),
    )];
    for limit in [None, Some(0)] {
        for (i, tree) in orders.iter().enumerate() {
            assert_eq!(
                findings(&lint_set(tree, &cat, &options(limit, None))),
                expected,
                "order {i}, limit {limit:?}"
            );
        }
    }
}

/// The cycle fixture and the three-call chain (`common::with_chain`).
fn with_chain(top: &str, leaf: &str) -> IdTree {
    common::with_chain(
        cycle_tree("mm/ping_pong.c", "mm/root_ping.c", "mm/root_pong.c"),
        top,
        leaf,
    )
}

#[test]
fn summaries_are_recomputed_only_as_far_as_a_change_reaches() {
    let cat = Catalogue::builtin();
    for limit in [None, Some(0)] {
        let scan = Arc::new(ScanCache::default());
        let summaries = |run: &dyn Fn() -> LintRun| {
            let (reused, computed) = (scan.summaries.reused(), scan.summaries.computed());
            let findings = findings(&run());
            (
                findings,
                scan.summaries.reused() - reused,
                scan.summaries.computed() - computed,
            )
        };
        let base = with_chain("", QUIET);
        let (first, _, computed) =
            summaries(&|| lint_set(&base, &cat, &options(limit, Some(&scan))));
        assert!(computed > 0);
        // The same tree: nothing to recompute.
        let (again, reused, computed) =
            summaries(&|| lint_set(&base, &cat, &options(limit, Some(&scan))));
        assert_eq!((again, computed), (first.clone(), 0), "limit {limit:?}");
        assert!(reused > 0);
        // Lines moved, nothing else: summaries do not depend on lines.
        let moved = with_chain("/* a comment */\n\n", QUIET);
        let (after_move, _, computed) =
            summaries(&|| lint_set(&moved, &cat, &options(limit, Some(&scan))));
        assert_eq!((after_move, computed), (first, 0), "limit {limit:?}");
        // The last step of the chain changed: it and the three functions
        // above it are recomputed, and nothing else.
        let long = with_chain("", LONG);
        let (after_change, _, computed) =
            summaries(&|| lint_set(&long, &cat, &options(limit, Some(&scan))));
        assert_eq!(computed, 4, "limit {limit:?}");
        let cold = findings(&lint_set(&long, &cat, &options(limit, None)));
        assert_eq!(after_change, cold);
        assert!(cold.iter().any(|f| f.0 == "chain_holder"));
    }
}

/// A chain of `n` functions, each calling the next, under a write hold
/// taken by `chain_root`; the last zaps.
fn deep_chain(n: usize) -> IdTree {
    let mut text = String::from("void chain_root(struct mm_struct *mm)\n{\n\tmmap_write_lock(mm);\n\tlink_0(mm);\n\tmmap_write_unlock(mm);\n}\n");
    for i in 0..n {
        let body = if i + 1 == n {
            "\tunmap_vmas(NULL, NULL, 0, 0, 0, false);\n".to_string()
        } else {
            format!("\tlink_{}(mm);\n", i + 1)
        };
        text.push_str(&format!(
            "\nvoid link_{i}(struct mm_struct *mm)\n{{\n{body}}}\n"
        ));
    }
    let mut files = BTreeMap::new();
    files.insert("mm/chain.c".to_string(), text.into_bytes());
    IdTree { files }
}

#[test]
fn a_call_chain_deeper_than_the_entry_limit_is_cut_not_a_crash() {
    let cat = Catalogue::builtin();
    // Followed to the end: a finding 1,000 calls down.
    let run = lint_set(&deep_chain(1000), &cat, &options(None, None));
    assert_eq!(run.report.findings.len(), 1);
    assert_eq!(run.report.findings[0].call_path.len(), 1001);
    // Deeper than the limit (3,000 nested entries): cut, no finding, no crash.
    let deep = deep_chain(4000);
    let run = lint_set(&deep, &cat, &options(None, None));
    assert!(run.report.findings.is_empty());
    // What was cut is not stored for other runs: a warm run computes the
    // cut summaries again and reports what the cold one did.
    let scan = Arc::new(ScanCache::default());
    let first = lint_set(&deep, &cat, &options(None, Some(&scan)));
    // Every summary of the chain reaches into the cut.
    assert_eq!(scan.summaries.computed(), 0);
    let again = lint_set(&deep, &cat, &options(None, Some(&scan)));
    assert_eq!(
        (findings(&first), findings(&again)),
        (findings(&run), findings(&run))
    );
}

#[test]
fn pull_rounds_bound_how_deep_missing_definitions_are_looked_up() {
    let cat = Catalogue::builtin();
    let long = with_chain("", LONG);
    let holds = |rounds: Option<usize>| {
        let run = lint_set(
            &long,
            &cat,
            &LintOptions {
                whole_scan_limit: Some(0),
                pull_rounds: rounds,
                ..LintOptions::default()
            },
        );
        findings(&run).iter().any(|f| f.0 == "chain_holder")
    };
    // Whole-tree mode: each step of the chain is a file that does not name
    // the lock, pulled in one round after the call to it was seen.
    assert!(!holds(Some(1)));
    assert!(!holds(Some(2)));
    assert!(holds(Some(4)));
    assert!(holds(None));
}

/// Every fixture directory as one tree (`mm/<dir>/<file>`): many roots,
/// cycles, callbacks and constants for the analysis threads to share.
fn all_fixtures() -> IdTree {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut tree = IdTree::default();
    for entry in std::fs::read_dir(dir).unwrap() {
        let sub = entry.unwrap().path();
        let name = sub.file_name().unwrap().to_string_lossy().to_string();
        if name == "bad" || !sub.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&sub).unwrap() {
            let p = file.unwrap().path();
            if !p.is_file() {
                continue;
            }
            tree.files.insert(
                format!("mm/{name}/{}", p.file_name().unwrap().to_string_lossy()),
                std::fs::read(&p).unwrap(),
            );
        }
    }
    tree
}

#[test]
fn the_findings_are_the_same_on_any_number_of_analysis_threads() {
    let cat = Catalogue::builtin();
    let tree = all_fixtures();
    let run = |threads: usize| {
        let run = lint_set(
            &tree,
            &cat,
            &LintOptions {
                analysis_threads: Some(threads),
                ..LintOptions::default()
            },
        );
        let findings = serde_json::to_string_pretty(&run.report.findings).unwrap();
        let skipped: Vec<String> = run
            .report
            .skipped
            .iter()
            .map(|s| s.reason.clone())
            .collect();
        (findings, skipped, run.report.findings.len())
    };
    let one = run(1);
    assert!(one.2 >= 50, "the fixtures give {} findings", one.2);
    for threads in [2, 3, 4] {
        for repeat in 0..5 {
            let other = run(threads);
            assert!(
                one.0 == other.0 && one.1 == other.1,
                "{threads} threads (repeat {repeat}) differ from one"
            );
        }
    }
}
