//! Issue 12, item 9: a directory that cannot be read is reported as skipped
//! (as an unreadable file is), not dropped without a word.
//!
//! The tests run as root, for whom `chmod 000` does not stop a read. A
//! directory whose path is longer than PATH_MAX (4096 bytes) cannot be
//! opened by anyone (ENAMETOOLONG), so the tree is made that deep, with
//! relative `mkdir`/`cd` steps in a shell.

use mmstall_analyzer::{lint_path, Catalogue, LintOptions};

#[test]
fn a_directory_that_cannot_be_read_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("top.c"),
        "int top(struct mm_struct *mm)\n{\n\tmmap_write_lock(mm);\n\tzap_page_range_single(vma, 0, 4096, NULL);\n\tmmap_write_unlock(mm);\n\treturn 0;\n}\n",
    )
    .unwrap();
    let component = "d".repeat(200);
    let script = format!(
        "for i in $(seq 1 24); do mkdir {component} && cd -P {component} || exit 1; done; echo 'int lost;' > lost.c"
    );
    let made = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(made.success());
    let run = lint_path(dir.path(), &Catalogue::builtin(), &LintOptions::default()).unwrap();
    assert_eq!(run.report.findings.len(), 1);
    let unreadable: Vec<_> = run
        .report
        .skipped
        .iter()
        .filter(|s| s.reason.starts_with("cannot read directory: "))
        .collect();
    assert_eq!(unreadable.len(), 1, "{:?}", run.report.skipped);
    assert!(unreadable[0].file.starts_with(&format!("{component}/")));
    assert!(
        unreadable[0].reason.contains("name too long"),
        "{:?}",
        unreadable[0]
    );
    // Too deep for the temporary directory's own cleanup: rm works relative.
    let _ = std::process::Command::new("rm")
        .arg("-rf")
        .arg(&component)
        .current_dir(dir.path())
        .status();
}
