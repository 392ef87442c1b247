//! End to end on Debian's 6.12 tree (when installed by scripts/setup.sh):
//! mm/ committed into a scratch repository in a tempdir, an in-house patch
//! that re-introduces the historical mlock() population stall applied as a
//! series and as a commit, and the diff must name exactly that finding; the
//! same for the fault-wait regression series of patches/ (MMS004).
//! Skipped with a printed reason when the tree is missing, unless
//! MMSTALL_REQUIRE_TREE=1 (scripts/test.sh sets it).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use mmstall_analyzer::Catalogue;
use mmstall_revisions::{
    analyze_series, diff_revisions, DiffReport, PatchResult, PathFilter, Workspace,
};

fn debian_tree() -> Option<PathBuf> {
    let cache = mmstall_vm::cache::root_or_default();
    let tree = cache.join("src/linux-source-6.12");
    if tree.join("mm/mlock.c").is_file() {
        return Some(tree);
    }
    if std::env::var("MMSTALL_REQUIRE_TREE").as_deref() == Ok("1") {
        panic!(
            "{} is missing and MMSTALL_REQUIRE_TREE=1; run scripts/setup.sh",
            tree.display()
        );
    }
    eprintln!("skipped: {} is missing (run scripts/setup.sh; MMSTALL_REQUIRE_TREE=1 makes this a failure)", tree.display());
    None
}

fn read_dir_files(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            read_dir_files(root, &p, out);
        } else if ft.is_file() {
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.insert(rel, std::fs::read(&p).unwrap());
        }
    }
}

/// The findings a diff introduced: (rule, file, holder, function, long call).
fn introduced(r: &DiffReport) -> Vec<(&str, &str, &str, &str, &str)> {
    r.diff
        .introduced
        .iter()
        .map(|f| {
            (
                f.code,
                f.file.as_str(),
                f.holder.as_str(),
                f.function.as_str(),
                f.operation.as_str(),
            )
        })
        .collect()
}

#[test]
fn the_diff_names_exactly_the_reintroduced_mlock_stall() {
    let Some(tree) = debian_tree() else { return };
    let dir = tempfile::tempdir().unwrap();
    let repo = git2::Repository::init_bare(dir.path().join("linux.git")).unwrap();
    let mut files = BTreeMap::new();
    read_dir_files(&tree, &tree.join("mm"), &mut files);
    assert!(files.len() > 100, "mm/ has {} files", files.len());
    let base = commit(
        &repo,
        "refs/heads/base",
        write_tree(&repo, &files),
        None,
        "mm/ of linux-source-6.12",
    );
    commit_patch(&repo, base, "e2e-mlock-populate-under-write.patch", "stall");

    let mut ws =
        Workspace::open(repo.path(), Catalogue::builtin(), PathFilter::new(&["mm"])).unwrap();
    let r = diff_revisions(&mut ws, "base", "stall").unwrap();
    assert_eq!(r.changed_files, vec!["mm/mlock.c"]);
    let named = introduced(&r);
    assert_eq!(
        named,
        vec![(
            "MMS001",
            "mm/mlock.c",
            "do_mlock",
            "do_mlock",
            "__mm_populate"
        )],
        "{}",
        mmstall_revisions::render::diff_text(&r)
    );
    assert!(r.diff.fixed.is_empty(), "{:#?}", r.diff.fixed);
    assert_eq!(r.diff.unchanged.len(), r.old.report.findings.len());
    // The second analysis read only the changed file and re-parsed only the
    // changed chunk(s); every other file came from the scan cache.
    assert!(
        r.new.timing.parse_misses <= 2 && r.new.timing.files_scanned == 1,
        "{:?}",
        r.new.timing
    );
    assert!(r.new.timing.files_from_cache > 100, "{:?}", r.new.timing);
    // Only the summaries of functions that reach the changed one were
    // recomputed (do_mlock, in each context it is analyzed in).
    let t = &r.new.timing;
    assert!(
        t.summaries_computed >= 1 && t.summaries_computed <= 4 && t.summaries_reused > 500,
        "{t:?}"
    );

    // The same patch as a series onto the base: credited to patch 1.
    let series =
        mmstall_series::load_series(&fixtures().join("e2e-mlock-populate-under-write.patch"))
            .unwrap();
    let s = analyze_series(&mut ws, "base", &series, false).unwrap();
    assert!(matches!(s.patches[0].result, PatchResult::Applied));
    assert_eq!(s.patches[0].introduced.len(), 1);
    assert_eq!(
        s.patches[0].introduced[0].fingerprint,
        r.diff.introduced[0].fingerprint
    );
    assert!(
        s.patches[0].timing.as_ref().unwrap().reused,
        "the patched tree was analyzed by the diff already"
    );
    assert_eq!(s.exit_code(), 1);

    // The fault-wait regression series of patches/ (MMS004: the fault waits
    // for the folio before dropping the lock; the retry marker comes after
    // the wait, so the finding rests on lines the caches must move right).
    commit_patch(
        &repo,
        base,
        "../../../patches/fault-wait-under-mmap-lock",
        "fault-wait",
    );
    let r = diff_revisions(&mut ws, "base", "fault-wait").unwrap();
    let named = introduced(&r);
    assert_eq!(
        named,
        // 6.12.118's lock_folio_maybe_drop_mmap() waits killably or not,
        // by the fault's flags: both waits now hold the fault lock.
        vec![
            (
                "MMS004",
                "mm/filemap.c",
                "filemap_fault",
                "lock_folio_maybe_drop_mmap",
                "__folio_lock_killable"
            ),
            (
                "MMS004",
                "mm/filemap.c",
                "filemap_fault",
                "lock_folio_maybe_drop_mmap",
                "__folio_lock"
            )
        ],
        "{}",
        mmstall_revisions::render::diff_text(&r)
    );
    assert!(r.diff.fixed.is_empty(), "{:#?}", r.diff.fixed);
}
