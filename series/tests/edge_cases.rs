//! Less common diff shapes: copies, pure renames, symlinks, -U0 hunks,
//! plain (non-git) diffs, CRLF mail files, quoted paths.

mod common;

use std::fs;
use std::path::Path;

use common::{base_dir, base_repo, fixture, read_tree_file};
use mmstall_series::{
    apply_to_dir, apply_to_tree, load_series, parse_series, ApplyFailure, ChangeKind, Series,
};

fn parse(text: &str) -> Series {
    parse_series(text.as_bytes(), Path::new("inline.patch"))
        .unwrap_or_else(|error| panic!("{error}"))
}

/// Applies the single patch of `text` to the base as a directory and as a
/// tree, checks both agree, and returns the directory.
fn apply_both(text: &str) -> (tempfile::TempDir, Vec<(String, Vec<u8>)>) {
    let series = parse(text);
    let dir = base_dir();
    apply_to_dir(&series.patches[0], dir.path()).unwrap_or_else(|error| panic!("dir: {error}"));
    let (_temp, repo, base) = base_repo();
    let tree = apply_to_tree(&repo, base, &series.patches[0])
        .unwrap_or_else(|error| panic!("tree: {error}"));
    let on_dir = common::walk::files_under(dir.path());
    for (path, content) in &on_dir {
        let (in_tree, _) =
            read_tree_file(&repo, tree, path).unwrap_or_else(|| panic!("{path} not in tree"));
        assert_eq!(&in_tree, content, "{path}");
    }
    (dir, on_dir)
}

#[test]
fn copy_keeps_the_source() {
    let text = "diff --git a/mm/old_helper.c b/mm/new_helper.c\nsimilarity index 80%\ncopy from mm/old_helper.c\ncopy to mm/new_helper.c\n--- a/mm/old_helper.c\n+++ b/mm/new_helper.c\n@@ -1,5 +1,5 @@\n // SPDX-License-Identifier: GPL-2.0\n-int demo_old_helper(void)\n+int demo_new_helper(void)\n {\n \treturn 0;\n }\n";
    let series = parse(text);
    assert_eq!(series.patches[0].files[0].kind, ChangeKind::Copy);
    let (dir, _) = apply_both(text);
    assert!(dir.path().join("mm/old_helper.c").exists());
    let copy = fs::read_to_string(dir.path().join("mm/new_helper.c")).unwrap();
    assert!(copy.contains("demo_new_helper"));
}

#[test]
fn pure_rename() {
    let text = "diff --git a/mm/old_helper.c b/mm/helpers/old.c\nsimilarity index 100%\nrename from mm/old_helper.c\nrename to mm/helpers/old.c\n";
    let (dir, files) = apply_both(text);
    assert!(!dir.path().join("mm/old_helper.c").exists());
    assert!(files.iter().any(|(path, _)| path == "mm/helpers/old.c"));
}

#[test]
fn symlink_creation_on_a_tree() {
    let text = "diff --git a/mm/stall.h b/mm/stall.h\nnew file mode 120000\nindex 0000000..1234567\n--- /dev/null\n+++ b/mm/stall.h\n@@ -0,0 +1 @@\n+../include/demo_lock.h\n\\ No newline at end of file\n";
    let series = parse(text);
    let (_temp, repo, base) = base_repo();
    let tree = apply_to_tree(&repo, base, &series.patches[0]).unwrap();
    let (target, mode) = read_tree_file(&repo, tree, "mm/stall.h").unwrap();
    assert_eq!(
        (target.as_slice(), mode),
        (&b"../include/demo_lock.h"[..], 0o120000)
    );

    #[cfg(unix)]
    {
        let dir = base_dir();
        apply_to_dir(&series.patches[0], dir.path()).unwrap();
        let link = fs::read_link(dir.path().join("mm/stall.h")).unwrap();
        assert_eq!(link, Path::new("../include/demo_lock.h"));
    }
}

#[test]
fn zero_context_hunks() {
    // `git diff -U0`: an insertion after line 13 and a removal of line 23.
    let text = "diff --git a/mm/stall.c b/mm/stall.c\n--- a/mm/stall.c\n+++ b/mm/stall.c\n@@ -13,0 +14 @@ static int demo_populate(struct mm_struct *mm, unsigned long addr)\n+\tdemo_account(mm);\n@@ -23 +23,0 @@ static void demo_release(struct mm_struct *mm)\n-\tdemo_drop_pages(mm);\n";
    let (dir, _) = apply_both(text);
    let stall = fs::read_to_string(dir.path().join("mm/stall.c")).unwrap();
    assert!(stall.contains(
        "\tret = demo_map_range(mm, addr);\n\tdemo_account(mm);\n\tmmap_write_downgrade(mm);\n"
    ));
    assert!(!stall.contains("demo_drop_pages"));
}

#[test]
fn plain_unified_diff_with_timestamps() {
    let text = "--- a/mm/Makefile\t2026-11-20 10:00:00.000000000 +0100\n+++ b/mm/Makefile\t2026-11-21 10:00:00.000000000 +0100\n@@ -1,2 +1,2 @@\n obj-y += stall.o\n-obj-y += old_helper.o\n+obj-y += new_helper.o\n";
    let series = parse(text);
    assert_eq!(
        series.patches[0].files[0].new_path.as_deref(),
        Some("mm/Makefile")
    );
    let (dir, _) = apply_both(text);
    assert_eq!(
        fs::read_to_string(dir.path().join("mm/Makefile")).unwrap(),
        "obj-y += stall.o\nobj-y += new_helper.o\n"
    );
}

#[test]
fn quoted_path_with_a_space() {
    let text = "diff --git \"a/mm/with space.c\" \"b/mm/with space.c\"\nnew file mode 100644\n--- /dev/null\n+++ \"b/mm/with space.c\"\n@@ -0,0 +1 @@\n+int demo_space;\n";
    let (_, files) = apply_both(text);
    assert!(files.iter().any(|(path, _)| path == "mm/with space.c"));
}

#[test]
fn crlf_mbox_parses_like_the_original() {
    let original = fs::read(fixture("format-patch.mbox")).unwrap();
    let crlf: Vec<u8> = String::from_utf8(original)
        .unwrap()
        .replace('\n', "\r\n")
        .into_bytes();
    let series = parse_series(&crlf, Path::new("crlf.mbox")).unwrap();
    let reference = load_series(&fixture("format-patch.mbox")).unwrap();
    assert_eq!(series.hash(), reference.hash());
    assert_eq!(series.patches[2].subject, reference.patches[2].subject);
}

#[test]
fn delete_of_a_changed_file_is_refused() {
    let dir = base_dir();
    fs::write(dir.path().join("mm/old_helper.c"), "// SPDX-License-Identifier: GPL-2.0\nint demo_old_helper(void)\n{\n\treturn 0;\n}\nint demo_added_later;\n").unwrap();
    let series = load_series(&fixture("keep-going.mbox")).unwrap();
    // Patch 3 deletes mm/old_helper.c as it was: its hunk is the whole
    // file, and here the file goes on.
    let error = apply_to_dir(&series.patches[2], dir.path()).unwrap_err();
    assert!(
        matches!(error.reason, ApplyFailure::HunkMismatch { .. }),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "patch 3 \"mm: drop old_helper\": mm/old_helper.c: hunk #1 (@@ -1,5 +0,0 @@) does not apply: expected line 6 to be end of file, found \"int demo_added_later;\""
    );
    assert!(dir.path().join("mm/old_helper.c").exists());
}
