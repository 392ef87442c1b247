//! Deep input (issue 12, item 7): thousands of nested `if`s, a long `else if`
//! chain, a huge expression. The recursive stages would overflow the stack
//! (the process aborts, exit 134, with no output for any file); instead the
//! function is skipped with a note and everything else keeps its findings.
//! Inputs are generated here (nothing large is committed).

use std::fmt::Write as _;
use std::path::Path;

use mmstall_analyzer::parse::MAX_SYNTAX_DEPTH;
use mmstall_analyzer::{lint_path, lint_set, Catalogue, LintOptions, LintRun, MemoryTree};

/// A write holder that zaps: the finding every test expects to survive.
fn holder(name: &str) -> String {
    format!(
        "int {name}(struct mm_struct *mm)\n{{\n\tmmap_write_lock(mm);\n\tzap_page_range_single(vma, 0, 4096, NULL);\n\tmmap_write_unlock(mm);\n\treturn 0;\n}}\n\n"
    )
}

/// `depth` nested `if`s, the innermost taking the lock and zapping (found
/// when the function is analyzed).
fn nested_ifs(name: &str, depth: usize) -> String {
    let mut s = format!("int {name}(struct mm_struct *mm, int x)\n{{\n");
    // Indented: a `}` in column 0 ends a top-level body for the chunker.
    for _ in 0..depth {
        s.push_str("\tif (x) {\n");
    }
    s.push_str("\tmmap_write_lock(mm);\n\tzap_page_range_single(vma, 0, 4096, NULL);\n\tmmap_write_unlock(mm);\n");
    for _ in 0..depth {
        s.push_str("\t}\n");
    }
    s.push_str("return 0;\n}\n\n");
    s
}

fn else_if_chain(name: &str, branches: usize) -> String {
    let mut s = format!("int {name}(struct mm_struct *mm, int x)\n{{\n\tmmap_write_lock(mm);\n");
    for k in 0..branches {
        let _ = writeln!(
            s,
            "\t{}if (x == {k})\n\t\tx++;",
            if k == 0 { "" } else { "else " }
        );
    }
    s.push_str("\tzap_page_range_single(vma, 0, 4096, NULL);\n\tmmap_write_unlock(mm);\n\treturn x;\n}\n\n");
    s
}

fn long_expression(name: &str, terms: usize) -> String {
    let mut s = format!("int {name}(struct mm_struct *mm, int x)\n{{\n\tint y = x");
    for k in 0..terms {
        let _ = write!(s, " + x{}", k % 7);
        if k % 16 == 15 {
            s.push('\n');
        }
    }
    s.push_str(";\n\tmmap_write_lock(mm);\n\tif (y + x + x + x)\n\t\tzap_page_range_single(vma, 0, 4096, NULL);\n\tmmap_write_unlock(mm);\n\treturn y;\n}\n\n");
    s
}

fn holders(run: &LintRun) -> Vec<String> {
    let mut h: Vec<String> = run
        .report
        .findings
        .iter()
        .map(|f| f.holder.clone())
        .collect();
    h.sort();
    h.dedup();
    h
}

fn too_deep(run: &LintRun) -> Vec<(String, String)> {
    run.report
        .skipped
        .iter()
        .filter(|s| s.reason.contains("nesting too deep"))
        .map(|s| (s.file.clone(), s.reason.clone()))
        .collect()
}

fn lint_dir(dir: &Path) -> LintRun {
    lint_path(dir, &Catalogue::builtin(), &LintOptions::default()).expect("lint runs")
}

#[test]
fn four_thousand_nested_ifs_skip_one_function_only() {
    let dir = tempfile::tempdir().unwrap();
    let text = holder("before") + &nested_ifs("deep", 4000) + &holder("after");
    std::fs::write(dir.path().join("deep.c"), text).unwrap();
    let run = lint_dir(dir.path());
    assert_eq!(holders(&run), ["after", "before"]);
    let skipped = too_deep(&run);
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0].0, "deep.c");
    assert!(
        skipped[0]
            .1
            .starts_with("function `deep` (line 9) skipped: nesting too deep"),
        "{skipped:?}"
    );
}

#[test]
fn nested_ifs_in_many_files_on_worker_threads() {
    let dir = tempfile::tempdir().unwrap();
    for k in 0..6 {
        let text = nested_ifs(&format!("deep{k}"), 1000) + &holder(&format!("ok{k}"));
        std::fs::write(dir.path().join(format!("f{k}.c")), text).unwrap();
    }
    let run = lint_dir(dir.path());
    assert_eq!(holders(&run), ["ok0", "ok1", "ok2", "ok3", "ok4", "ok5"]);
    let files: Vec<String> = too_deep(&run).into_iter().map(|(f, _)| f).collect();
    assert_eq!(files, ["f0.c", "f1.c", "f2.c", "f3.c", "f4.c", "f5.c"]);
}

#[test]
fn long_else_if_chain_and_long_expression_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let text = else_if_chain("chain", 2000) + &long_expression("sum", 5000) + &holder("fine");
    std::fs::write(dir.path().join("wide.c"), text).unwrap();
    let run = lint_dir(dir.path());
    assert_eq!(holders(&run), ["fine"]);
    let reasons: Vec<String> = too_deep(&run).into_iter().map(|(_, r)| r).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].starts_with("function `chain` "), "{reasons:?}");
    assert!(reasons[1].starts_with("function `sum` "), "{reasons:?}");
}

/// Just under the limit, every stage still runs, on a worker thread of
/// default stack size, in a debug build: the limit is one the stack holds.
#[test]
fn nesting_just_under_the_limit_is_analyzed() {
    let dir = tempfile::tempdir().unwrap();
    // Each level is an if_statement and its compound_statement; the body
    // and the definition add a few more.
    let levels = (MAX_SYNTAX_DEPTH - 8) / 2;
    for k in 0..4 {
        std::fs::write(
            dir.path().join(format!("n{k}.c")),
            nested_ifs(&format!("nested{k}"), levels),
        )
        .unwrap();
    }
    let run = lint_dir(dir.path());
    assert!(too_deep(&run).is_empty(), "{:?}", run.report.skipped);
    assert_eq!(holders(&run), ["nested0", "nested1", "nested2", "nested3"]);
    let long = long_expression("sum", MAX_SYNTAX_DEPTH - 12);
    std::fs::write(dir.path().join("n0.c"), long).unwrap();
    let run = lint_dir(dir.path());
    assert!(too_deep(&run).is_empty(), "{:?}", run.report.skipped);
    assert!(holders(&run).contains(&"sum".to_string()));
}

/// The entry `diff` and `series` use (files in memory, with the parse and
/// scan caches), twice: the second run takes the parse from the caches and
/// must still name the skipped function.
#[test]
fn library_entry_of_diff_and_series_reports_deep_functions() {
    let mut tree = MemoryTree::default();
    tree.files.insert(
        "mm/deep.c".into(),
        (nested_ifs("deep", 4000) + &holder("kept")).into_bytes(),
    );
    tree.files.insert(
        "mm/chain.c".into(),
        else_if_chain("chain", 2000).into_bytes(),
    );
    let options = LintOptions {
        parse_cache: Some(Default::default()),
        scan_cache: Some(Default::default()),
        ..Default::default()
    };
    for _ in 0..2 {
        let run = lint_set(&tree, &Catalogue::builtin(), &options);
        assert_eq!(holders(&run), ["kept"]);
        let files: Vec<String> = too_deep(&run).into_iter().map(|(f, _)| f).collect();
        assert_eq!(files, ["mm/chain.c", "mm/deep.c"]);
    }
}
