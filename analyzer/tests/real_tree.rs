//! Debian's linux-source-6.12 mm/, when installed (scripts/setup.sh unpacks it;
//! scripts/test.sh sets MMSTALL_REQUIRE_TREE=1 so CI cannot skip it). Every
//! change in what the analyzer finds on a real tree shows as a snapshot diff.

use std::path::PathBuf;

use mmstall_analyzer::{lint_path, Catalogue, LintOptions};

fn debian_tree() -> Option<PathBuf> {
    let cache = mmstall_vm::cache::root_or_default();
    let tree = cache.join("src/linux-source-6.12");
    if tree.join("mm/mmap.c").is_file() {
        Some(tree)
    } else if std::env::var("MMSTALL_REQUIRE_TREE").as_deref() == Ok("1") {
        panic!("{} is missing: run scripts/setup.sh", tree.display());
    } else {
        eprintln!(
            "skipping: {} not installed (run scripts/setup.sh)",
            tree.display()
        );
        None
    }
}

#[test]
fn debian_6_12_mm_findings() {
    let Some(tree) = debian_tree() else { return };
    // Named as `mmstall lint debian:6.12/mm` names them: from the tree's root.
    let options = LintOptions {
        tree_root: Some(tree.clone()),
        ..Default::default()
    };
    let run = lint_path(&tree.join("mm"), &Catalogue::builtin(), &options).expect("lint runs");
    // Line-insensitive (the fingerprint tells apart two calls of one
    // function): a Debian point release that only moves code leaves the
    // snapshot alone, while any finding gained or lost shows as a diff.
    let mut lines: Vec<String> = run
        .report
        .findings
        .iter()
        .map(|f| {
            format!(
                "{} {} in {} | holder {} | {} | path {} | {}",
                f.code,
                f.file,
                f.function,
                f.holder,
                f.operation,
                f.call_path.join(" > "),
                f.fingerprint
            )
        })
        .collect();
    lines.sort();
    insta::assert_snapshot!("debian_6_12_mm", lines.join("\n"));
    // The munmap flag: munmap(2) passes unlock=true and zaps under read.
    assert!(
        !run.report.findings.iter().any(|f| f.holder == "sys_munmap"),
        "munmap(2) downgrades before zapping"
    );
    assert!(run
        .report
        .findings
        .iter()
        .any(|f| f.holder == "__vm_munmap" && f.context == ["unlock=0"]));
}

#[test]
fn debian_6_12_mm_parses_cleanly() {
    let Some(tree) = debian_tree() else { return };
    let options = LintOptions {
        parse_all: true,
        ..Default::default()
    };
    let run = lint_path(&tree.join("mm"), &Catalogue::builtin(), &options).expect("lint runs");
    let st = &run.report.stats;
    assert!(st.functions > 6000, "{st:?}");
    let error_rate = st.functions_with_parse_errors as f64 / st.functions as f64;
    assert!(
        error_rate < 0.01,
        "{:.2}% of functions have ERROR nodes: {st:?}",
        100.0 * error_rate
    );
}
