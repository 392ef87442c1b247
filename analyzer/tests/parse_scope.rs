//! Which selected chunks are parsed: those the analysis can use (the
//! functions that may hold the lock, their callers three levels up, and
//! everything those call), not every chunk a lexical reach selected.

use mmstall_analyzer::{lint_path, Catalogue, LintOptions, LintRun};

/// One file: a write holder reaching a zap through a helper, its callers
/// four levels up (each names the lock in a comment, so each is selected),
/// and a function naming the lock only in a comment whose callee zaps.
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("mm")).unwrap();
    std::fs::write(
        dir.path().join("mm/scope.c"),
        "// SPDX-License-Identifier: GPL-2.0\n\
static void demo_zap_helper(struct mm_struct *mm)\n\
{\n\
\tunmap_vmas(NULL, NULL, 0, 1, 0);\n\
}\n\
\n\
static void demo_hold(struct mm_struct *mm)\n\
{\n\
\tmmap_write_lock(mm);\n\
\tdemo_zap_helper(mm);\n\
\tmmap_write_unlock(mm);\n\
}\n\
\n\
/* Takes the mmap_lock through demo_hold(). */\n\
static void demo_caller1(struct mm_struct *mm)\n\
{\n\
\tdemo_hold(mm);\n\
}\n\
\n\
/* Takes the mmap_lock through demo_caller1(). */\n\
static void demo_caller2(struct mm_struct *mm)\n\
{\n\
\tdemo_caller1(mm);\n\
}\n\
\n\
/* Takes the mmap_lock through demo_caller2(). */\n\
static void demo_caller3(struct mm_struct *mm)\n\
{\n\
\tdemo_caller2(mm);\n\
}\n\
\n\
/* Takes the mmap_lock through demo_caller3(). */\n\
static void demo_caller4(struct mm_struct *mm)\n\
{\n\
\tdemo_caller3(mm);\n\
}\n\
\n\
static void demo_unrelated_zap(struct mm_struct *mm)\n\
{\n\
\tunmap_vmas(NULL, NULL, 0, 1, 0);\n\
}\n\
\n\
/* Called without the mmap_lock. */\n\
static void demo_comment_only(struct mm_struct *mm)\n\
{\n\
\tdemo_unrelated_zap(mm);\n\
}\n",
    )
    .unwrap();
    dir
}

fn lint(dir: &tempfile::TempDir, parse_all: bool) -> LintRun {
    let options = LintOptions {
        parse_all,
        ..Default::default()
    };
    lint_path(&dir.path().join("mm"), &Catalogue::builtin(), &options).expect("lint runs")
}

#[test]
fn only_chunks_a_hold_can_reach_are_parsed() {
    let dir = tree();
    let run = lint(&dir, false);
    // demo_hold, its helper and three levels of callers: not demo_caller4
    // (a fourth level gives demo_hold no context) nor the comment's zap.
    assert_eq!(run.report.stats.functions, 5, "{:?}", run.report.stats);
    let holders: Vec<&str> = run
        .report
        .findings
        .iter()
        .map(|f| f.holder.as_str())
        .collect();
    assert_eq!(holders, ["demo_hold"]);
}

#[test]
fn parsing_every_chunk_finds_the_same() {
    let dir = tree();
    let scoped = lint(&dir, false);
    let all = lint(&dir, true);
    assert_eq!(all.report.stats.functions, 8, "{:?}", all.report.stats);
    let key = |run: &LintRun| -> Vec<(String, u32, String)> {
        run.report
            .findings
            .iter()
            .map(|f| (f.rule.to_string(), f.line, f.holder.clone()))
            .collect()
    };
    assert_eq!(key(&scoped), key(&all));
}
