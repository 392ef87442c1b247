//! Files are named relative to the tree's root whatever PATH is linted, so
//! `lint .`, `lint mm` and `lint mm/mmap.c` name and fingerprint a finding
//! alike; the SARIF and coloured text printers built on those names.

use std::collections::BTreeSet;
use std::path::Path;

use mmstall_analyzer::printers::{sarif, text};
use mmstall_analyzer::source::{is_kernel_top, tree_root};
use mmstall_analyzer::{lint_path, Catalogue, LintOptions, LintRun};

/// A kernel-shaped tree: a top-level Makefile setting the version, a Kbuild,
/// `arch/x86/` with a Makefile and a Kbuild of its own (not a top), and mm/
/// with a finding inside one file and one across two files.
fn kernel_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |rel: &str, text: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write(
        "Makefile",
        "# SPDX-License-Identifier: GPL-2.0\nVERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 0\n",
    );
    write("Kbuild", "obj-y += mm/\n");
    write("arch/x86/Makefile", "KBUILD_CFLAGS += -m64\n");
    write("arch/x86/Kbuild", "obj-y += mm/\n");
    write(
        "arch/x86/mm/fault.c",
        "static void demo_fault_zap(struct mm_struct *mm)\n{\n\tmmap_write_lock(mm);\n\tunmap_vmas(NULL, NULL, 0, 1, 0);\n\tmmap_write_unlock(mm);\n}\n",
    );
    write(
        "mm/mmap.c",
        "// SPDX-License-Identifier: GPL-2.0\n\
static int demo_mlock(struct mm_struct *mm, unsigned long start,\n\
\t\t      unsigned long len)\n\
{\n\
\tint ret;\n\
\n\
\tmmap_write_lock(mm);\n\
\tret = __mm_populate(start,\n\
\t\t\t    len, 0);\n\
\tmmap_write_unlock(mm);\n\
\treturn ret;\n\
}\n\
\n\
static void demo_unmap(struct mm_struct *mm)\n\
{\n\
\tmmap_write_lock(mm);\n\
\tdemo_zap_helper(mm);\n\
\tmmap_write_unlock(mm);\n\
}\n",
    );
    write(
        "mm/memory.c",
        "void demo_zap_helper(struct mm_struct *mm)\n{\n\tunmap_vmas(NULL, NULL, 0, 1, 0);\n}\n",
    );
    dir
}

fn lint_in(root: &Path, path: &Path) -> LintRun {
    let options = LintOptions {
        tree_root: Some(root.to_path_buf()),
        ..Default::default()
    };
    lint_path(path, &Catalogue::builtin(), &options).expect("lint runs")
}

fn named(run: &LintRun) -> BTreeSet<(String, String, String)> {
    run.report
        .findings
        .iter()
        .map(|f| (f.file.clone(), f.holder.clone(), f.fingerprint.clone()))
        .collect()
}

#[test]
fn kernel_top_needs_the_version_lines_not_just_makefile_and_kbuild() {
    let tree = kernel_tree();
    let root = tree.path();
    assert!(is_kernel_top(root));
    assert!(!is_kernel_top(&root.join("arch/x86")));
    assert_eq!(
        tree_root(&root.join("arch/x86/mm/fault.c")).as_deref(),
        Some(root)
    );
    assert_eq!(tree_root(&root.join("arch/x86")).as_deref(), Some(root));
    assert_eq!(tree_root(&root.join("mm")).as_deref(), Some(root));
    // A git work tree (a `.git` directory, or a file in linked work trees)
    // is the root, even above a kernel top.
    let outer = tempfile::tempdir().unwrap();
    std::fs::write(outer.path().join(".git"), "gitdir: /elsewhere\n").unwrap();
    let nested = outer.path().join("linux");
    std::fs::create_dir_all(nested.join("mm")).unwrap();
    std::fs::write(nested.join("Makefile"), "VERSION = 6\nPATCHLEVEL = 1\n").unwrap();
    std::fs::write(nested.join("Kbuild"), "").unwrap();
    assert_eq!(tree_root(&nested.join("mm")).as_deref(), Some(outer.path()));
    // Neither: no root (callers name files relative to PATH).
    let plain = tempfile::tempdir().unwrap();
    std::fs::write(plain.path().join("a.c"), "").unwrap();
    assert_eq!(tree_root(plain.path()), None);
}

#[test]
fn whole_tree_subdirectory_and_file_name_and_fingerprint_findings_alike() {
    let tree = kernel_tree();
    let root = tree.path();
    let whole = named(&lint_in(root, root));
    let mm = named(&lint_in(root, &root.join("mm")));
    let file = named(&lint_in(root, &root.join("mm/mmap.c")));
    let arch = named(&lint_in(root, &root.join("arch/x86/mm")));
    let files = |s: &BTreeSet<(String, String, String)>| -> BTreeSet<String> {
        s.iter().map(|(f, _, _)| f.clone()).collect()
    };
    assert_eq!(
        files(&whole),
        ["arch/x86/mm/fault.c", "mm/memory.c", "mm/mmap.c"]
            .map(String::from)
            .into()
    );
    assert_eq!(
        files(&mm),
        ["mm/memory.c", "mm/mmap.c"].map(String::from).into()
    );
    assert_eq!(
        files(&arch),
        ["arch/x86/mm/fault.c"].map(String::from).into()
    );
    // Same finding, same fingerprint: every narrower run's findings are in
    // the whole tree's.
    assert!(mm.is_subset(&whole), "{mm:?} vs {whole:?}");
    assert!(file.is_subset(&whole), "{file:?} vs {whole:?}");
    assert!(arch.is_subset(&whole));
    assert!(file.iter().any(|(_, holder, _)| holder == "demo_mlock"));
    // Without a tree root, names stay relative to PATH (library default).
    let plain = lint_path(
        &root.join("mm"),
        &Catalogue::builtin(),
        &LintOptions::default(),
    )
    .unwrap();
    assert!(plain
        .report
        .findings
        .iter()
        .all(|f| !f.file.starts_with("mm/")));
}

#[test]
fn sarif_names_srcroot_and_spans_the_long_call() {
    let tree = kernel_tree();
    let root = tree.path();
    let run = lint_in(root, &root.join("mm"));
    let out = sarif::render_run(
        &run.report.findings,
        &sarif::SarifRun {
            root: Some(root),
            sources: Some(&run.sources),
        },
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let r = &v["runs"][0];
    let base = r["originalUriBaseIds"]["SRCROOT"]["uri"].as_str().unwrap();
    assert!(
        base.starts_with("file:///") && base.ends_with('/'),
        "{base}"
    );
    assert_eq!(base, sarif::file_uri_of_dir(root));
    let driver = &r["tool"]["driver"];
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(driver["semanticVersion"], env!("CARGO_PKG_VERSION"));
    for rule in driver["rules"].as_array().unwrap() {
        let full = rule["fullDescription"]["text"].as_str().unwrap();
        assert_ne!(full, rule["shortDescription"]["text"].as_str().unwrap());
        assert!(!full.contains("**") && !full.contains('\n'), "{full}");
        let help = rule["help"]["markdown"].as_str().unwrap();
        assert!(help.contains("## Why it matters"), "{help}");
        assert!(rule["help"]["text"]
            .as_str()
            .unwrap()
            .contains("## Known limits"));
    }
    let populate = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["ruleId"] == "MMS001")
        .expect("the populate finding");
    let location = &populate["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], "mm/mmap.c");
    assert_eq!(location["artifactLocation"]["uriBaseId"], "SRCROOT");
    // `__mm_populate(start,\n\t\t\t    len, 0)` from line 8, column 8 to the
    // character after `)` on line 9.
    assert_eq!(
        location["region"],
        serde_json::json!({"startLine": 8, "startColumn": 8, "endLine": 9, "endColumn": 15})
    );
    assert_eq!(r["columnKind"], "unicodeCodePoints");
}

#[test]
fn call_extent_skips_strings_comments_and_checks_the_name() {
    let text = "x\n\tf(a, \")\", /* ) */ g(b), ')'\n\t  );\n";
    assert_eq!(sarif::call_extent(text, 2, 2, "f"), Some((2, 3, 5)));
    // Not the callee at that place, no call, unbalanced: no extent.
    assert_eq!(sarif::call_extent(text, 2, 2, "g"), None);
    assert_eq!(sarif::call_extent("\tf;\n", 1, 2, "f"), None);
    assert_eq!(sarif::call_extent("\tf(a\n", 1, 2, "f"), None);
    assert_eq!(sarif::call_extent("f()", 7, 1, "f"), None);
    // Columns count characters: `é` is two bytes, one column.
    assert_eq!(sarif::call_extent("é f(x)", 1, 4, "f"), Some((3, 1, 7)));
    assert_eq!(sarif::uri_path("mm/a b#.c"), "mm/a%20b%23.c");
    assert_eq!(
        sarif::file_uri_of_dir(Path::new("/src/linux 6/")),
        "file:///src/linux%206/"
    );
}

#[test]
fn colour_is_rustc_like_and_changes_nothing_else() {
    let tree = kernel_tree();
    let root = tree.path();
    let run = lint_in(root, root);
    let plain = text::render(&run.report, &run.sources);
    let coloured = text::render_styled(&run.report, &run.sources, true);
    assert!(!plain.contains('\x1b'));
    assert!(
        coloured.contains("\x1b[1;33mwarning[MMS001]\x1b[0m"),
        "{coloured}"
    );
    assert!(coloured.contains("\x1b[1;34m"), "blue gutters: {coloured}");
    assert_eq!(strip_ansi(&coloured), plain);
    assert!(plain.contains("mm/mmap.c:8:8: warning[MMS001]"), "{plain}");
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn rule_full_descriptions_keep_code_and_drop_emphasis() {
    let out = sarif::render(&[]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rules = v["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    let zap = rules.iter().find(|r| r["id"] == "MMS002").unwrap();
    let text = zap["fullDescription"]["text"].as_str().unwrap();
    assert!(
        text.contains("for write while") && text.contains("`zap_page_range*`"),
        "{text}"
    );
    let markdown = zap["fullDescription"]["markdown"].as_str().unwrap();
    assert!(markdown.contains("**write**"), "{markdown}");
    // Without a tree root: no base URI to give (diff and series' SARIF).
    assert!(v["runs"][0].get("originalUriBaseIds").is_none());
}
