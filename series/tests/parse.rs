//! Loading series: mbox layouts, single patches, directories, and the
//! errors for malformed input.

mod common;

use common::fixture;
use mmstall_series::{load_series, parse_series, ChangeKind, FileContent, LineKind, Series};

fn load(name: &str) -> Series {
    match load_series(&fixture(name)) {
        Ok(series) => series,
        Err(error) => panic!("{name}: {error}"),
    }
}

fn error_of(name: &str) -> String {
    match load_series(&fixture(name)) {
        Ok(series) => panic!("{name} loaded: {series:?}"),
        Err(error) => error.to_string(),
    }
}

/// One line per patch and file: what a reader checks at a glance.
fn outline(series: &Series) -> String {
    let mut out = String::new();
    if let Some(cover) = &series.cover {
        out.push_str(&format!("cover: {:?} by {}\n", cover.subject, cover.author));
    }
    for patch in &series.patches {
        out.push_str(&format!(
            "{} {:?} tags={:?} author={:?} commit={:?}\n",
            patch.index, patch.subject, patch.tags.raw, patch.author, patch.commit
        ));
        for file in &patch.files {
            let hunks = match &file.content {
                FileContent::Text(hunks) => format!("{} hunks", hunks.len()),
                FileContent::Binary => "binary".to_string(),
            };
            out.push_str(&format!(
                "  {:?} {:?} -> {:?} modes {:?} -> {:?} similarity {:?}, {hunks}\n",
                file.kind,
                file.old_path,
                file.new_path,
                file.old_mode.map(|m| format!("{m:o}")),
                file.new_mode.map(|m| format!("{m:o}")),
                file.similarity,
            ));
        }
    }
    for ignored in &series.ignored {
        out.push_str(&format!(
            "ignored {:?}: {}\n",
            ignored.subject, ignored.reason
        ));
    }
    for warning in &series.warnings {
        out.push_str(&format!("warning: {warning}\n"));
    }
    out
}

#[test]
fn format_patch_mbox_with_cover_letter() {
    let series = load("format-patch.mbox");
    insta::assert_snapshot!(outline(&series));

    let cover = series.cover.as_ref().expect("cover letter");
    assert!(cover.body.starts_with("This series keeps the mmap lock"));
    assert_eq!(cover.tags.number, Some((0, 3)));

    let first = &series.patches[0];
    assert_eq!(first.date, "Fri, 20 Nov 2026 10:00:00 +0100");
    // The commit message keeps the trailers and unescapes mboxrd's ">From".
    assert!(first
        .message
        .contains("\nFrom the reproducer's point of view"));
    assert!(first.message.ends_with(
        "Link: https://lore.example.org/r/20261120-demo-v2-1-ada@example.org\nSigned-off-by: Ada Example <ada@example.org>"
    ));
    let hunk = &first.files[0].content.hunks()[0];
    assert_eq!(
        hunk.header(),
        "@@ -11,9 +11,8 @@ static int demo_populate(struct mm_struct *mm, unsigned long addr)"
    );
    assert_eq!(
        hunk.lines
            .iter()
            .filter(|l| l.kind == LineKind::Removed)
            .count(),
        2
    );
    assert_eq!(hunk.source.line, 52);

    // MIME-encoded subject, and a folded one.
    assert_eq!(
        series.patches[1].subject,
        "mm/stall: add a trace header for Jörg"
    );
    assert_eq!(
        series.patches[2].subject,
        "mm: drop old_helper, rename demo_lock.h"
    );
}

#[test]
fn no_newline_at_end_of_file() {
    let series = load("format-patch.mbox");
    let created = &series.patches[1].files[1];
    assert_eq!(created.kind, ChangeKind::Create);
    let lines = &created.content.hunks()[0].lines;
    assert!(!lines[0].no_newline);
    assert!(lines[1].no_newline);
    assert_eq!(lines[1].text, b"#define DEMO_TRACE_ON 1");
}

#[test]
fn rename_delete_and_mode_change() {
    let series = load("format-patch.mbox");
    let files = &series.patches[2].files;
    assert_eq!(files[0].kind, ChangeKind::Rename);
    assert_eq!(files[0].old_path.as_deref(), Some("include/demo_lock.h"));
    assert_eq!(files[0].new_path.as_deref(), Some("include/demo_locking.h"));
    assert_eq!(files[0].similarity, Some(81));
    assert_eq!(files[2].kind, ChangeKind::Delete);
    assert_eq!(files[2].new_path, None);
    assert_eq!(
        (files[3].old_mode, files[3].new_mode),
        (Some(0o100644), Some(0o100755))
    );
    assert!(files[3].content.hunks().is_empty());
    assert_eq!(
        series.patches[2].touched_paths(),
        [
            "include/demo_lock.h",
            "include/demo_locking.h",
            "mm/Makefile",
            "mm/old_helper.c",
            "scripts/demo.sh"
        ]
    );
}

#[test]
fn b4_mbox_keeps_trailers_and_decodes_quoted_printable() {
    let series = load("b4.mbox");
    insta::assert_snapshot!(outline(&series));
    let second = &series.patches[1];
    // In-body From: names the real author.
    assert_eq!(second.author, "Carl Contributor <carl@example.org>");
    assert!(second.message.contains("which is long."));
    assert!(second
        .message
        .contains("Acked-by: Bea Reviewer <bea@example.org>"));
    assert!(second
        .message
        .ends_with("Link: https://lore.example.org/r/20261123-demo-v3-2-0a1b2c3d4e5f@example.org"));
    let makefile = &second.files[0].content.hunks()[0].lines;
    assert_eq!(makefile[2].text, b"obj-y += stall_trace.o");
}

#[test]
fn single_patch_and_bare_diff() {
    let single = load("single.patch");
    assert_eq!(single.patches.len(), 1);
    assert_eq!(
        single.patches[0].subject,
        "mm/stall: fault in under the write lock"
    );
    assert_eq!(single.patches[0].tags.version, Some(2));

    let bare = load("bare.diff");
    assert_eq!(bare.patches.len(), 1);
    // No mail: the file name stands in for the subject.
    assert_eq!(bare.patches[0].subject, "bare");
    assert_eq!(
        bare.patches[0].files[0].new_path.as_deref(),
        Some("mm/stall.c")
    );
    // Same change, same hash, whatever wraps it.
    assert_eq!(bare.hash(), single.hash());
}

#[test]
fn directory_of_patches() {
    let series = load("dir");
    insta::assert_snapshot!(outline(&series));
    // The mbox differs in cover text and subjects only: the same changes.
    assert_eq!(series.hash(), load("format-patch.mbox").hash());
    assert_ne!(series.hash(), load("b4.mbox").hash());
    assert_eq!(series.hash().len(), 64);
}

#[test]
fn binary_patches_are_parsed_as_binary() {
    for name in ["binary.patch", "binary-differ.diff"] {
        let series = load(name);
        let file = &series.patches[0].files[0];
        assert_eq!(file.content, FileContent::Binary, "{name}");
        assert_eq!(file.kind, ChangeKind::Create, "{name}");
        assert_eq!(file.new_path.as_deref(), Some("mm/blob.bin"));
    }
}

#[test]
fn malformed_inputs_name_file_and_line() {
    let mut report = String::new();
    for name in [
        "malformed/truncated.mbox",
        "malformed/corrupt-hunk.mbox",
        "malformed/garbage.txt",
        "malformed/cover-only.mbox",
        "malformed/no-diff.mbox",
        "malformed/bad-hunk-header.diff",
        "malformed/stray-hunk.diff",
        "malformed/overlong-hunk.diff",
        "does-not-exist.mbox",
    ] {
        let error = error_of(name);
        // The OS error text differs between systems; keep the first part.
        let error = error
            .split(": No such file")
            .next()
            .unwrap_or(&error)
            .to_string();
        report.push_str(&format!("{error}\n"));
    }
    insta::assert_snapshot!(report);
}

#[test]
fn empty_input_and_numbering_checks() {
    let empty = parse_series(b"", "empty.mbox".as_ref()).unwrap_err();
    assert_eq!(
        empty.to_string(),
        "empty.mbox:1: empty input: no mail and no diff"
    );

    let mbox = std::fs::read(fixture("format-patch.mbox")).unwrap();
    let text = String::from_utf8(mbox).unwrap();
    // Patch 2/3 duplicated as another 1/3.
    let duplicated = text.replace("[PATCH v2 2/3]", "[PATCH v2 1/3]");
    let error = parse_series(duplicated.as_bytes(), "dup.mbox".as_ref()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "dup.mbox:67: two patches numbered 1/3 (the other one at dup.mbox:32); mixed versions of a series?"
    );
    // Patches out of order are put in order; a missing one is a warning.
    let start_2 = text.find("From 0484f49d").unwrap();
    let start_3 = text.rfind("From 3dc16acf").unwrap();
    let reordered = format!("{}{}", &text[start_3..], &text[start_2..start_3]);
    let series = parse_series(reordered.as_bytes(), "reordered.mbox".as_ref()).unwrap();
    let subjects: Vec<_> = series
        .patches
        .iter()
        .map(|p| (p.index, p.tags.number))
        .collect();
    assert_eq!(subjects, vec![(1, Some((2, 3))), (2, Some((3, 3)))]);
    assert_eq!(
        series.warnings,
        vec!["patches missing from the series: 1/3".to_string()]
    );
}

#[test]
fn replies_are_ignored() {
    let mbox = std::fs::read_to_string(fixture("single.patch")).unwrap();
    let reply = "\nFrom bea@example.org Sat Nov 21 10:00:00 2026\nFrom: Bea Reviewer <bea@example.org>\nSubject: Re: [PATCH v2 1/3] mm/stall: fault in under the write lock\n\n> -\tmmap_write_downgrade(mm);\nLooks right.\n";
    let series = parse_series(format!("{mbox}{reply}").as_bytes(), "thread.mbox".as_ref()).unwrap();
    assert_eq!(series.patches.len(), 1);
    assert_eq!(series.ignored.len(), 1);
    assert_eq!(series.ignored[0].source.line, 36);
}
