//! The seed patterns, before and after their fixes, as in-house kernel-style
//! fixtures: semantic assertions plus insta snapshots of every output format.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mmstall_analyzer::{lint_path, printers, Catalogue, LintOptions, LintRun};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn lint(name: &str) -> LintRun {
    let mut run = lint_path(
        &fixture(name),
        &Catalogue::builtin(),
        &LintOptions::default(),
    )
    .expect("lint runs");
    run.report.stats.elapsed_ms = 0; // keep snapshots deterministic
    run
}

fn holders_ops(run: &LintRun) -> BTreeSet<(String, String, String)> {
    run.report
        .findings
        .iter()
        .map(|f| (f.code.to_string(), f.holder.clone(), f.operation.clone()))
        .collect()
}

/// (holder, function, operation) of the findings of one rule, sorted.
fn sorted_findings<'r>(run: &'r LintRun, code: &str) -> Vec<(&'r str, &'r str, &'r str)> {
    let mut v: Vec<_> = run
        .report
        .findings
        .iter()
        .filter(|f| f.code == code)
        .map(|f| (f.holder.as_str(), f.function.as_str(), f.operation.as_str()))
        .collect();
    v.sort();
    v
}

/// The holders of the findings of one rule, sorted (one per finding).
fn sorted_holders<'r>(run: &'r LintRun, code: &str) -> Vec<&'r str> {
    sorted_findings(run, code)
        .into_iter()
        .map(|(h, _, _)| h)
        .collect()
}

fn has(run: &LintRun, code: &str, holder: &str, op: &str) -> bool {
    holders_ops(run).contains(&(code.to_string(), holder.to_string(), op.to_string()))
}

fn holder_clean(run: &LintRun, holder: &str) -> bool {
    !run.report.findings.iter().any(|f| f.holder == holder)
}

#[test]
fn populate_under_write_is_found_and_fixes_are_clean() {
    let run = lint("seeds");
    assert!(has(&run, "MMS001", "old_do_mlock", "make_pages_present"));
    assert!(has(&run, "MMS001", "sys_mlock_regressed", "__mm_populate"));
    assert!(has(
        &run,
        "MMS001",
        "try_populate_locked",
        "populate_vma_page_range"
    ));
    for clean in [
        "downgrade_do_mlock",
        "sys_mlock",
        "try_populate",
        "relock_around_loop",
    ] {
        assert!(
            holder_clean(&run, clean),
            "{clean} must be clean: {:#?}",
            holders_ops(&run)
        );
    }
}

#[test]
fn zap_under_write_follows_constant_arguments() {
    let run = lint("seeds");
    assert!(has(&run, "MMS002", "sys_old_munmap", "unmap_region"));
    // do_munmap_downgrade(.., false) zaps under write; (.., true) under read.
    assert!(has(&run, "MMS002", "vm_munmap", "unmap_region"));
    assert!(holder_clean(&run, "sys_munmap"));
    // The same through a struct field set by an init helper.
    assert!(has(&run, "MMS002", "mmap_over_existing", "unmap_vmas"));
    // Error paths return with the lock held, but the caller's branch on the
    // return value separates them from the unlocked success path.
    assert!(holder_clean(&run, "sys_brk_like"));
    // A switch on a constant argument takes only the matching case.
    assert!(has(
        &run,
        "MMS002",
        "immediate_zap",
        "zap_page_range_single"
    ));
    assert!(holder_clean(&run, "deferred_zap"));
}

#[test]
fn interprocedural_goto_assert_and_walks() {
    let run = lint("seeds");
    let f = run
        .report
        .findings
        .iter()
        .find(|f| f.holder == "prefault_locked")
        .expect("cross-file finding");
    assert_eq!(f.file, "walk_b.c");
    assert_eq!(f.acquired_at.file, "walk_a.c");
    assert_eq!(f.call_path, ["prefault_locked", "fault_in_range"]);
    assert!(holder_clean(&run, "prefault_after_unlock"));
    assert!(
        holder_clean(&run, "fault_one"),
        "a single fault outside a loop is not long"
    );
    assert!(has(
        &run,
        "MMS002",
        "clear_range_locked",
        "zap_page_range_single"
    ));
    assert!(has(&run, "MMS003", "protect_range", "change_protection"));
    assert!(has(&run, "MMS003", "switch_walk", "walk_page_vma"));
    // walk_b.c mentions no lock API: it was pulled in on demand.
    assert_eq!(run.report.stats.files_parsed, 4, "{:?}", run.report.stats);
}

#[test]
fn fingerprints_survive_code_moving() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["mlock.c", "fixture.h"] {
        std::fs::copy(fixture("seeds").join(f), dir.path().join(f)).unwrap();
    }
    let before = lint_path(dir.path(), &Catalogue::builtin(), &LintOptions::default()).unwrap();
    let text = std::fs::read_to_string(dir.path().join("mlock.c")).unwrap();
    std::fs::write(
        dir.path().join("mlock.c"),
        format!("/* a new comment */\n\n\n{text}"),
    )
    .unwrap();
    let after = lint_path(dir.path(), &Catalogue::builtin(), &LintOptions::default()).unwrap();
    let fp = |r: &LintRun| {
        r.report
            .findings
            .iter()
            .map(|f| f.fingerprint.clone())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(fp(&before), fp(&after));
    assert_ne!(
        before.report.findings[0].line,
        after.report.findings[0].line
    );
}

#[test]
fn snapshot_text() {
    let run = lint("seeds");
    insta::assert_snapshot!(
        "seeds_text",
        printers::text::render(&run.report, &run.sources)
    );
}

#[test]
fn snapshot_json() {
    let run = lint("seeds");
    insta::assert_snapshot!("seeds_json", printers::json::render(&run.report));
}

#[test]
fn snapshot_sarif() {
    let run = lint("seeds");
    // With the sources, regions span each long call; no root (its file://
    // URI would name this machine's checkout).
    let sarif = printers::sarif::render_run(
        &run.report.findings,
        &printers::sarif::SarifRun {
            root: None,
            sources: Some(&run.sources),
        },
    );
    let v: serde_json::Value = serde_json::from_str(&sarif).unwrap();
    assert_eq!(v["version"], "2.1.0");
    // One result per long-call site.
    assert_eq!(
        v["runs"][0]["results"].as_array().unwrap().len(),
        printers::sites::group(&run.report.findings).len()
    );
    assert!(v["runs"][0]["results"][0]["partialFingerprints"]["mmstall/site/v1"].is_string());
    insta::assert_snapshot!("seeds_sarif", sarif);
}

#[test]
fn bad_input_is_reported_and_skipped() {
    let run = lint("bad");
    let skipped: Vec<_> = run
        .report
        .skipped
        .iter()
        .map(|s| (s.file.as_str(), s.reason.as_str()))
        .collect();
    assert!(
        skipped
            .iter()
            .any(|(f, r)| *f == "binary.c" && r.contains("binary")),
        "{skipped:?}"
    );
    assert!(
        skipped
            .iter()
            .any(|(f, r)| *f == "latin1.c" && r.contains("UTF-8")),
        "{skipped:?}"
    );
    // The truncated file is analyzed as far as it goes, not skipped.
    assert!(!skipped.iter().any(|(f, _)| *f == "truncated.c"));
    assert_eq!(run.report.stats.files, 4);
    let missing = lint_path(
        Path::new("/nonexistent/tree"),
        &Catalogue::builtin(),
        &LintOptions::default(),
    );
    assert!(missing
        .err()
        .unwrap()
        .to_string()
        .contains("/nonexistent/tree"));
}

#[test]
fn parse_cache_reuses_unchanged_chunks_at_new_lines() {
    let cache = std::sync::Arc::new(mmstall_analyzer::ParseCache::default());
    let options = LintOptions {
        parse_cache: Some(cache.clone()),
        ..Default::default()
    };
    let mut tree = mmstall_analyzer::MemoryTree::default();
    for f in ["mlock.c", "fixture.h"] {
        tree.files.insert(
            f.to_string(),
            std::fs::read(fixture("seeds").join(f)).unwrap(),
        );
    }
    let first = mmstall_analyzer::lint_set(&tree, &Catalogue::builtin(), &options);
    let misses = cache.misses();
    assert!(misses > 0 && cache.hits() == 0);
    let text = String::from_utf8(tree.files["mlock.c"].clone()).unwrap();
    tree.files.insert(
        "mlock.c".into(),
        format!("/* moved */\n{text}").into_bytes(),
    );
    let second = mmstall_analyzer::lint_set(&tree, &Catalogue::builtin(), &options);
    assert!(
        cache.misses() <= misses + 1,
        "at most the changed first chunk is parsed again"
    );
    assert!(cache.hits() >= misses - 1, "{cache:?}");
    let lines = |r: &LintRun| r.report.findings.iter().map(|f| f.line).collect::<Vec<_>>();
    assert_eq!(
        lines(&second),
        lines(&first).iter().map(|l| l + 1).collect::<Vec<_>>()
    );
}

#[test]
fn io_wait_under_the_lock_without_retry_is_found() {
    let run = lint("fault_rmap");
    // Fault handler (entered with the lock held, per `.fault =`) sleeping on the page lock.
    assert!(has(&run, "MMS004", "demo_fault_waits", "lock_page"));
    assert!(has(&run, "MMS004", "demo_scan_locked", "folio_lock"));
    // The retry protocol and the wait after mmap_read_unlock() are clean.
    assert!(holder_clean(&run, "demo_fault_retries"));
    assert!(holder_clean(&run, "demo_read_ahead_unlocked"));
    let f = run
        .report
        .findings
        .iter()
        .find(|f| f.holder == "demo_fault_waits")
        .unwrap();
    assert_eq!(f.lock_mode, "read");
}

#[test]
fn rmap_trylocks_are_found_and_look_alikes_are_not() {
    let run = lint("fault_rmap");
    let mms005: Vec<&str> = run
        .report
        .findings
        .iter()
        .filter(|f| f.code == "MMS005")
        .map(|f| f.function.as_str())
        .collect();
    assert_eq!(mms005, ["demo_munlock_one", "demo_check_vma"]);
    let f = run
        .report
        .findings
        .iter()
        .find(|f| f.function == "demo_check_vma")
        .unwrap();
    assert_eq!(f.call_path, ["try_to_unmap_one", "demo_check_vma"]);
    assert!(
        holder_clean(&run, "demo_referenced_one"),
        "anon_vma trylock, rwsem_is_locked, pte lock"
    );
    assert!(holder_clean(&run, "demo_outside_rmap"));
}

#[test]
fn snapshot_fault_rmap_text() {
    let run = lint("fault_rmap");
    insta::assert_snapshot!(
        "fault_rmap_text",
        printers::text::render(&run.report, &run.sources)
    );
}

#[test]
fn rules_can_be_disabled_or_reclassified() {
    let cat = Catalogue::with_user_str(
        "[rules.MMS005]\nenabled = false\n[rules.hold-across-io-wait]\nseverity = \"note\"\n",
        Path::new("mmstall.toml"),
    )
    .unwrap();
    let run = lint_path(&fixture("fault_rmap"), &cat, &LintOptions::default()).unwrap();
    assert!(run.report.findings.iter().all(|f| f.code != "MMS005"));
    assert!(run
        .report
        .findings
        .iter()
        .filter(|f| f.code == "MMS004")
        .all(|f| f.severity == mmstall_analyzer::rules::Severity::Note));
    assert!(run.report.findings.iter().any(|f| f.code == "MMS004"));
}

#[test]
fn baseline_suppresses_known_findings_even_after_code_moves() {
    use mmstall_analyzer::baseline::Baseline;
    let dir = tempfile::tempdir().unwrap();
    for f in ["mlock.c", "fixture.h"] {
        std::fs::copy(fixture("seeds").join(f), dir.path().join(f)).unwrap();
    }
    let before = lint_path(dir.path(), &Catalogue::builtin(), &LintOptions::default()).unwrap();
    let baseline = Baseline::parse(
        &Baseline::from_findings(&before.report.findings).to_json(),
        Path::new("b.json"),
    )
    .unwrap();
    // Unrelated edit moves code down; one new finding is added at the end.
    let text = std::fs::read_to_string(dir.path().join("mlock.c")).unwrap();
    let added = "\nstatic void new_regression(struct mm_struct *mm)\n{\n\tmmap_write_lock(mm);\n\t__mm_populate(0, 1, 0);\n\tmmap_write_unlock(mm);\n}\n";
    std::fs::write(
        dir.path().join("mlock.c"),
        format!("/* moved */\n{text}{added}"),
    )
    .unwrap();
    let after = lint_path(dir.path(), &Catalogue::builtin(), &LintOptions::default()).unwrap();
    let (new, known) = baseline.filter(after.report.findings);
    assert_eq!(known.len(), before.report.findings.len());
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].holder, "new_regression");
    let err =
        Baseline::parse("{\"version\": 1, \"findings\": 3}", Path::new("b.json")).unwrap_err();
    assert!(err.to_string().starts_with("b.json:1:"), "{err}");
}

#[test]
fn github_annotations() {
    let run = lint("fault_rmap");
    let out = printers::github::render(&run.report.findings, "mm");
    assert!(
        out.starts_with(
            "::warning file=mm/fault.c,line=15,col=2,title=MMS004 hold-across-io-wait::"
        ),
        "{out}"
    );
    assert_eq!(out.lines().count(), run.report.findings.len());
}

#[test]
fn retry_protocol_counts_only_before_the_wait_and_in_code() {
    let run = lint("fault_retry_order");
    let mms004 = sorted_findings(&run, "MMS004");
    assert_eq!(
        mms004,
        [
            // A comment naming VM_FAULT_RETRY does not make the wait clean.
            (
                "demo_fault_comment_only",
                "demo_lock_comment_only",
                "folio_lock"
            ),
            // __filemap_get_folio() waits only when asked with FGP_LOCK.
            ("demo_fault_get_locked", "__filemap_get_folio", "folio_lock"),
            // The wait comes before the only drop (on its error path).
            (
                "demo_fault_wait_first",
                "demo_lock_wait_first",
                "__folio_lock_killable"
            ),
        ]
    );
    // maybe_unlock_mmap_for_io() before the wait; FGP_CREAT alone never waits.
    assert!(holder_clean(&run, "demo_fault_drop_first"));
}

#[test]
fn a_wait_on_a_folio_just_allocated_on_every_path_is_no_wait() {
    let run = lint("fault_fresh_folio");
    let mms004 = sorted_holders(&run, "MMS004");
    // Looked up on one path, or replaced by a looked-up folio: may wait.
    assert_eq!(mms004, ["demo_fault_merged", "demo_fault_replaced"]);
    // Locked only where it was allocated a moment ago.
    assert!(holder_clean(&run, "demo_fault_fresh"));
}

#[test]
fn uprobe_mmap_is_not_followed_but_registration_is() {
    let run = lint("precision_uprobe");
    // The split reaches get_user_pages_remote only through uprobe_mmap().
    assert!(
        holder_clean(&run, "demo_split_munmap"),
        "{:#?}",
        holders_ops(&run)
    );
    // Registration installs the breakpoint directly: still a finding.
    assert!(has(
        &run,
        "MMS001",
        "demo_register_for_each_vma",
        "get_user_pages_remote"
    ));
}

#[test]
fn task_death_is_not_a_wait_under_the_fault_lock() {
    let run = lint("precision_trap");
    // die → make_task_dead → do_exit: never entered with the mmap lock held.
    assert!(
        holder_clean(&run, "demo_do_page_fault"),
        "{:#?}",
        holders_ops(&run)
    );
    // The same folio_lock through a helper that returns: under the read lock.
    assert!(has(
        &run,
        "MMS004",
        "demo_do_page_fault_flush",
        "folio_lock"
    ));
}

#[test]
fn deferred_teardown_is_not_followed_but_direct_truncation_is() {
    let run = lint("precision_teardown");
    // fput (task_work), iput of an internal inode, mmput that is not the last.
    assert!(
        holder_clean(&run, "demo_vma_merge"),
        "{:#?}",
        holders_ops(&run)
    );
    assert!(has(
        &run,
        "MMS002",
        "demo_vma_truncate",
        "unmap_mapping_range"
    ));
}

#[test]
fn lock_mode_picked_by_a_predicate_follows_the_behavior() {
    let run = lint("precision_madvise");
    // MADV_POPULATE_* take the read lock: populating under it is no finding.
    assert!(
        !has(&run, "MMS001", "demo_do_madvise", "faultin_page_range"),
        "{:#?}",
        holders_ops(&run)
    );
    // Any other behavior (MADV_UNMERGEABLE) walks under the write lock.
    let unmerge = run
        .report
        .findings
        .iter()
        .find(|f| f.holder == "demo_do_madvise" && f.operation == "walk_page_range")
        .expect("the write-locked walk is reported");
    assert_eq!(unmerge.code, "MMS003");
    assert_eq!(unmerge.context, ["behavior=other"]);
}

#[test]
fn waits_that_cannot_block_are_not_findings() {
    let run = lint("precision_nowait");
    for clean in ["demo_swapin_fault", "demo_hugetlb_fault"] {
        assert!(
            holder_clean(&run, clean),
            "{clean}: {:#?}",
            holders_ops(&run)
        );
    }
    assert!(has(
        &run,
        "MMS004",
        "demo_swapcache_fault",
        "folio_wait_writeback"
    ));
}

#[test]
fn a_predicate_defined_in_another_file_decides_nothing() {
    // stub.c's demo_test_flag() returns 1 for a constant argument; the
    // caller may use another definition: its flush stays reachable.
    let run = lint("precision_predicate_elsewhere");
    assert!(
        has(&run, "MMS004", "demo_mkwrite_flush", "folio_lock"),
        "{:#?}",
        holders_ops(&run)
    );
}

#[test]
fn locals_derived_from_constant_parameters_decide_callees() {
    // Class D: `cow = mod != 0` and `ins_len = mod < 0 ? -1 : 0` in a callee
    // passed `mod = 0` are 0, so the search neither locks nor rebalances.
    let run = lint("precision_derived");
    assert!(
        holder_clean(&run, "demo_page_mkwrite"),
        "{:#?}",
        holders_ops(&run)
    );
    // The look-alike passes `mod = -1`: both waits stay findings.
    assert!(has(&run, "MMS004", "demo_page_mkwrite_delete", "lock_page"));
    assert!(has(
        &run,
        "MMS004",
        "demo_page_mkwrite_delete",
        "wait_on_page_writeback"
    ));
}

#[test]
fn direct_compaction_carries_pf_memalloc_and_both_modes_of_its_choice() {
    // Class D: between memalloc_noreclaim_save() and _restore() the task has
    // PF_MEMALLOC (no page lock), and `.mode = prio == ASYNC ? MIGRATE_ASYNC
    // : MIGRATE_SYNC_LIGHT` is each of two modes, neither waiting for
    // writeback.
    let run = lint("precision_compaction");
    for clean in ["demo_fault_alloc", "demo_fault_alloc_by_hand"] {
        assert!(
            holder_clean(&run, clean),
            "{clean}: {:#?}",
            holders_ops(&run)
        );
    }
    // Look-alikes. MIGRATE_SYNC under the flag: the writeback wait only.
    assert!(has(
        &run,
        "MMS004",
        "demo_fault_compact_node",
        "wait_on_page_writeback"
    ));
    assert!(!has(&run, "MMS004", "demo_fault_compact_node", "lock_page"));
    // The flag not set on every path to the call (never, on one branch
    // only, restored before it): the page lock, but no writeback wait.
    for holder in [
        "demo_fault_compact_unflagged",
        "demo_fault_alloc_cleared_by_hand",
        "demo_fault_compact_maybe",
        "demo_fault_compact_restored",
    ] {
        assert!(has(&run, "MMS004", holder, "lock_page"), "{holder}");
        assert!(
            !has(&run, "MMS004", holder, "wait_on_page_writeback"),
            "{holder}"
        );
    }
    // `sync ? MIGRATE_SYNC : MIGRATE_ASYNC` passed directly: one of the
    // modes waits, so both waits stay.
    assert!(has(
        &run,
        "MMS004",
        "demo_fault_migrate_either",
        "wait_on_page_writeback"
    ));
    assert!(has(
        &run,
        "MMS004",
        "demo_fault_migrate_either",
        "lock_page"
    ));
    // `current->flags &= ~PF_MEMALLOC` in a callee: the page lock again
    // (`|= PF_SWAPWRITE` and `&= ~PF_SWAPWRITE` keep the flag: above).
    assert!(has(
        &run,
        "MMS004",
        "demo_fault_migrate_cleared",
        "lock_page"
    ));
}

#[test]
fn a_lock_flag_set_next_to_the_lock_follows_the_hold() {
    // Class D: `mmap_write_lock(mm); write_locked = true;` ...
    // `if (write_locked) mmap_write_downgrade(mm);` walks under read only.
    let run = lint("precision_derived");
    assert!(
        holder_clean(&run, "demo_restore_pages"),
        "{:#?}",
        holders_ops(&run)
    );
    // Look-alikes: the downgrade tests another variable, or the flag's
    // address goes to a callee (which may change it): the walk is reported.
    assert!(has(
        &run,
        "MMS003",
        "demo_restore_pages_no_downgrade",
        "walk_page_range"
    ));
    assert!(has(
        &run,
        "MMS003",
        "demo_flag_by_address",
        "walk_page_range"
    ));
}

#[test]
fn loops_are_neither_dead_nor_endless() {
    let run = lint("recall_loops");
    // Class 3: the second of two `for_each_evictable_lru(l)` loops runs.
    assert!(
        has(&run, "MMS004", "demo_mbind", "lock_page"),
        "{:#?}",
        holders_ops(&run)
    );
    // `for (i = 0; i < 1; i++)` ends: the walk after it is reached.
    assert!(has(&run, "MMS003", "demo_dup_mmap", "copy_page_range"));
}

#[test]
fn a_mid_level_helper_in_view_is_followed_into() {
    // Class 1: `__mlock_vma_pages_range` is long only when undefined; here
    // its body is in view, so the wait inside it under the downgraded
    // (read) hold is the finding, not an opaque populate.
    let run = lint("recall_loops");
    assert!(has(&run, "MMS004", "demo_mlock_fixup", "lock_page"));
    assert!(!has(
        &run,
        "MMS001",
        "demo_mlock_fixup",
        "__mlock_vma_pages_range"
    ));
}

#[test]
fn a_nommu_definition_does_not_stand_in_for_the_mmu_one() {
    // The MMU build's empty inline in a header is the callee, not the
    // NOMMU-only definition in mm/nommu.c (6.1 ramfs_nommu_expand_for_mapping).
    let run = lint("precision_nommu");
    assert!(
        holder_clean(&run, "demo_setup_file"),
        "{:#?}",
        holders_ops(&run)
    );
    // A name only a NOMMU file defines is still followed.
    assert!(has(&run, "MMS004", "demo_setup_other", "folio_lock"));
}

#[test]
fn a_callee_that_downgrades_then_waits_is_a_read_hold_wait() {
    // 2.6.28 mlock: the write hold of the caller, downgraded in a callee,
    // is held for read across the callee's lock_page.
    let run = lint("recall_loops");
    let wait = run
        .report
        .findings
        .iter()
        .find(|f| f.holder == "demo_sys_mlock" && f.operation == "lock_page")
        .unwrap_or_else(|| panic!("{:#?}", holders_ops(&run)));
    assert_eq!(wait.code, "MMS004");
    assert_eq!(wait.lock_mode, "read");
    // `newflags = x | VM_LOCKED` has the bit: the munlock branch, with its
    // zap under write, is not taken.
    assert!(!has(
        &run,
        "MMS002",
        "demo_sys_mlock",
        "zap_page_range_single"
    ));
}

#[test]
fn any_other_value_keeps_out_of_the_cases_it_excludes() {
    // `behavior=other` (not REMOVE, WILLNEED or DONTNEED: the write lock)
    // reaches the callee's other cases but not its MADV_DONTNEED zap.
    let run = lint("recall_other");
    assert!(
        !has(&run, "MMS002", "demo_sys_madvise", "zap_page_range"),
        "{:#?}",
        holders_ops(&run)
    );
    let walk = run
        .report
        .findings
        .iter()
        .find(|f| f.holder == "demo_sys_madvise" && f.operation == "walk_page_range")
        .expect("the write-locked walk of another behavior is reported");
    assert_eq!(walk.context, ["behavior=other"]);
}

#[test]
fn a_walker_runs_the_callback_its_caller_hands_it() {
    let run = lint("recall_callbacks");
    // `frob_walk_vmas(.., frob_vma_behavior)` calls it through `visit`: the
    // unmerge populates under the caller's write hold.
    let found = |holder: &str| {
        run.report
            .findings
            .iter()
            .find(|f| f.holder == holder && f.code == "MMS001" && f.operation == "handle_mm_fault")
    };
    let direct = found("do_frob").expect("the callback's populate is reported");
    assert_eq!(
        direct.call_path,
        [
            "do_frob",
            "frob_walk_vmas",
            "frob_vma_behavior",
            "ksm_unmerge_range"
        ]
    );
    // Handed on through a second walker's parameter.
    let handed_on = found("frob_unmerge_all").expect("a callback handed on is followed");
    assert_eq!(handed_on.call_path[1], "frob_apply_range");
    // The same walker handed a callback that does nothing long: clean.
    assert!(
        holder_clean(&run, "frob_set_name"),
        "{:#?}",
        holders_ops(&run)
    );
    // A parameter named like a global function calls what it was handed,
    // not the global.
    assert!(
        holder_clean(&run, "frob_name_all"),
        "{:#?}",
        holders_ops(&run)
    );
}

#[test]
fn flag_tests_are_decided_on_the_values_of_the_defines() {
    // Issues 14 and 15: `fgp_flags & DEMO_FGP_STABLE` with the values of
    // include/linux/demo_pagemap.h.
    let run = lint("precision_flag_values");
    let ops = holders_ops(&run);
    // DEMO_FGP_LOCK (0x2) locks but has no stable bit (0x80).
    assert!(
        has(&run, "MMS004", "demo_lock_fault", "folio_lock"),
        "{ops:#?}"
    );
    assert!(
        !has(&run, "MMS004", "demo_lock_fault", "folio_wait_writeback"),
        "{ops:#?}"
    );
    // A plain flag with neither bit: clean.
    assert!(holder_clean(&run, "demo_create_fault"), "{ops:#?}");
    // The composite contains the stable bit: both waits stay.
    for op in ["folio_lock", "folio_wait_writeback"] {
        assert!(
            has(&run, "MMS004", "demo_write_begin_fault", op),
            "{ops:#?}"
        );
    }
    // Two definitions with different values: the name has no value, so
    // both tests stay undecided (even the lock bit, which neither has).
    for op in ["folio_lock", "folio_wait_writeback"] {
        assert!(
            has(&run, "MMS004", "demo_maybe_stable_fault", op),
            "{ops:#?}"
        );
    }
    // The 5.x filemap_fault shape: CREAT|FOR_MMAP does not lock, LOCK|CREAT does.
    assert!(holder_clean(&run, "demo_filemap_fault"), "{ops:#?}");
    assert!(
        has(&run, "MMS004", "demo_locked_filemap_fault", "lock_page"),
        "{ops:#?}"
    );
    assert!(
        !has(
            &run,
            "MMS004",
            "demo_locked_filemap_fault",
            "wait_on_page_writeback"
        ),
        "{ops:#?}"
    );
    // A flag defined in the .c file itself: 0x100 is the local wait only.
    assert!(
        has(
            &run,
            "MMS004",
            "demo_local_flag_fault",
            "wait_on_page_writeback"
        ),
        "{ops:#?}"
    );
    assert!(
        !has(&run, "MMS004", "demo_local_flag_fault", "lock_page"),
        "{ops:#?}"
    );
}

#[test]
fn a_whole_tree_reads_shared_headers_defines_and_not_drivers() {
    // demo_flag_holder passes DEMO_OTHER_FLAG (include/: 0x2) to a helper
    // that locks only for DEMO_WAIT_FLAG (0x1). drivers/demo/demo_regs.h
    // gives DEMO_OTHER_FLAG 0x1 as well.
    let whole_tree = lint_path(
        &fixture("flag_values_scope"),
        &Catalogue::builtin(),
        &LintOptions {
            whole_scan_limit: Some(0),
            ..LintOptions::default()
        },
    )
    .expect("lint runs");
    // The whole-tree path reads include/ and the files naming the lock:
    // one value, the test is 0x2 & 0x1 = 0.
    assert!(
        holder_clean(&whole_tree, "demo_flag_holder"),
        "{:#?}",
        holders_ops(&whole_tree)
    );
    // The look-alike passing DEMO_WAIT_FLAG is analyzed and reported.
    assert!(
        has(&whole_tree, "MMS004", "demo_flag_waiter", "lock_page"),
        "{:#?}",
        holders_ops(&whole_tree)
    );
    // A small tree is read whole: two values, undecided, the wait stays.
    let small = lint("flag_values_scope");
    assert!(
        has(&small, "MMS004", "demo_flag_holder", "lock_page"),
        "{:#?}",
        holders_ops(&small)
    );
}

#[test]
fn a_field_written_through_a_pointer_is_not_a_constant() {
    // 2.6.37 reclaim: the mode is tested, then turned off later in the same
    // loop by a helper writing it through the pointer; set by another helper
    // from a local. Neither write makes it a constant of the whole function.
    let run = lint("field_writes");
    let mms004 = sorted_findings(&run, "MMS004");
    assert_eq!(
        mms004,
        [
            (
                "demo_populate_reclaim",
                "demo_pageout",
                "wait_on_page_writeback"
            ),
            (
                "demo_populate_reclaim",
                "demo_shrink_page_list",
                "wait_on_page_writeback"
            ),
            // Both look-alikes lock the page in their helper.
            ("demo_writeback_async", "demo_prepare_async", "lock_page"),
            // The mode turned on two calls down.
            (
                "demo_writeback_nested",
                "demo_pageout",
                "wait_on_page_writeback"
            ),
            ("demo_writeback_nested", "demo_prepare_sync", "lock_page"),
        ]
    );
}

#[test]
fn the_retry_protocol_covers_only_its_own_waits() {
    // 2.6.37: lock_page() became lock_page_or_retry(), which returns with
    // the lock still held when it succeeds; the other waits stay.
    let run = lint("fault_retry_scope");
    let mms004 = sorted_findings(&run, "MMS004");
    assert_eq!(
        mms004,
        [
            // FAULT_FLAG_ALLOW_RETRY set for the callees, VM_FAULT_RETRY
            // tested to return: the page lock after them waits.
            ("demo_do_page_fault", "demo_do_fault", "lock_page"),
            // The re-read after lock_page_or_retry() succeeded.
            (
                "demo_fault_rereads",
                "demo_fault_rereads",
                "wait_on_page_locked"
            ),
        ]
    );
    // The wait inside __lock_page_or_retry() is the protocol's.
    assert!(holder_clean(&run, "demo_fault_retries"));
}

#[test]
fn fields_a_designated_initializer_leaves_out_are_zero() {
    // 6.1 node_reclaim(): `struct scan_control sc = { ... }` names no target
    // memcg, so writeback_throttling_sane(sc) -> !cgroup_reclaim(sc) is true
    // and shrink_folio_list() never waits for writeback on that path. A memcg
    // named in the initializer, assigned later or by a helper keeps the wait;
    // so does a mapping a filesystem callback fills in (`ops->iomap_begin`).
    let run = lint("zeroed_fields");
    let mms004 = sorted_findings(&run, "MMS004");
    assert_eq!(
        mms004,
        [
            (
                "demo_fault_memcg_reclaim",
                "demo_shrink_folio_list",
                "folio_wait_writeback"
            ),
            (
                "demo_fault_memcg_reclaim_helper",
                "demo_shrink_folio_list",
                "folio_wait_writeback"
            ),
            (
                "demo_fault_memcg_reclaim_late",
                "demo_shrink_folio_list",
                "folio_wait_writeback"
            ),
            (
                "demo_mkwrite_mapped",
                "demo_mkwrite_iter",
                "folio_wait_writeback"
            ),
        ]
    );
}

#[test]
fn a_parameter_keeps_its_constant_until_it_is_reassigned() {
    // 6.12 __mmap_region(file = NULL) tests `if (file)` before
    // `file = vma->vm_file;`: the ->mmap error path that unmaps the new VMA
    // is a file mapping's only. A file mapping, or a local that is NULL
    // only before the test, keeps the zap.
    let run = lint("flow_values");
    let mms002 = sorted_holders(&run, "MMS002");
    assert_eq!(mms002, ["demo_map_file", "demo_map_shared_anon"]);
}

#[test]
fn a_branch_on_a_stable_call_decides_it_in_the_callees() {
    // 6.12 xfs_filemap_huge_fault(): `if (!IS_DAX(file_inode(..))) return
    // VM_FAULT_FALLBACK;`, then the write fault's `IS_DAX(inode)` of the
    // same file is true: its page-cache path (->page_mkwrite's folio lock)
    // is dead there. The same write fault from ->page_mkwrite, or under a
    // test of another file's inode, keeps it.
    let run = lint("stable_calls");
    let mms004 = sorted_holders(&run, "MMS004");
    // xfs_filemap_fault(): the write fault is asked for with
    // `IS_DAX(..) && is_write(vmf)`, so where the callee tests that flag the
    // inode is DAX too.
    // 6.1's shape, both tests in one function: the page-cache branch under
    // `!IS_DAX(inode)` and `write_fault` is dead for a caller whose
    // `write_fault` implies `IS_DAX`.
    assert_eq!(
        mms004,
        [
            "demo_mkwrite",
            "demo_mkwrite_locked",
            "demo_other_file_fault",
            "demo_shared_fault"
        ]
    );
}

#[test]
fn flags_assumed_clear_and_constant_returns_decide_the_downgrade() {
    // 4.20-6.1 munmap/brk: the downgrade before the zap is cancelled only
    // next to a VMA that grows down (or up); `[assume_clear]` takes those
    // tests as 0 in the functions it names. 5.x tests them in a static
    // helper of the file, which then returns true whatever its arguments (a
    // constant return); 6.1 inline. Stay: downgrade=false, a helper that
    // also refuses another flag, a test of a flag not assumed, a global
    // (`__weak`) helper of a listed name, and a stack-growing fault.
    let run = lint("assume_clear");
    let mms002 = sorted_holders(&run, "MMS002");
    assert_eq!(
        mms002,
        [
            "demo_brk_munmap_locked",
            "demo_munmap_checked",
            "demo_twin_munmap",
            "demo_vm_munmap"
        ]
    );
    assert_eq!(sorted_holders(&run, "MMS004"), ["demo_stack_fault"]);
}

#[test]
fn a_handler_field_gives_facts_on_entry() {
    // `[fault_path.entry_facts.pfn_mkwrite]`: a file system's ->pfn_mkwrite
    // runs only for DAX files, so the write fault's page-cache branch (a
    // folio lock under the read hold) is dead there (6.1/6.12 XFS). Stay: the
    // same write fault from ->page_mkwrite, a function put in both fields,
    // and a driver's ->pfn_mkwrite (outside fs/).
    let run = lint("entry_facts");
    assert_eq!(
        sorted_holders(&run, "MMS004"),
        [
            "demo_gem_pfn_mkwrite",
            "demofs_any_mkwrite",
            "demofs_page_mkwrite"
        ]
    );
}

#[test]
fn fields_of_a_zeroed_allocation_are_zero() {
    // `[zeroing_allocators]`: a fresh `kmem_cache_zalloc()`ed path (through
    // a wrapper, 6.12 `btrfs_alloc_path()`) asks for no split, so a
    // read-only lookup (mod=0) does not reach the split's page wait. Stay:
    // kmalloc(), a helper or the body asking for a split, a pointer that may
    // be another object.
    let run = lint("zeroing_allocators");
    assert_eq!(
        sorted_holders(&run, "MMS004"),
        [
            "demo_helper_mkwrite",
            "demo_kmalloc_mkwrite",
            "demo_other_mkwrite",
            "demo_split_mkwrite"
        ]
    );
}

#[test]
fn a_flag_word_keeps_at_most_its_bits() {
    // 6.1 `__alloc_pages()`: `gfp &= gfp_allowed_mask; gfp =
    // current_gfp_context(gfp);` keep at most the caller's bits, and the
    // kernel-memory charge in `(gfp & __GFP_ACCOUNT) && page &&
    // __memcg_kmem_charge_page(..)` is called only when the flag is set.
    // The same through dma-direct's shape (`demo_fault_dma`): `gfp |=
    // helper()` of a helper returning constants, `gfp = (gfp & ~A) | B`, and
    // `gfp & ~B` as an argument keep at most known bits.
    // Stay: a caller passing the flag, a local that may gain it, an
    // unknown word or'ed with another flag, and a zone helper returning
    // what it reads.
    let run = lint("gfp_bits");
    assert_eq!(
        sorted_holders(&run, "MMS004"),
        [
            "demo_fault_account",
            "demo_fault_dma_account",
            "demo_fault_dma_any",
            "demo_fault_local_account",
            "demo_fault_unknown"
        ]
    );
}

#[test]
fn a_context_carries_the_fields_callees_read_further_down() {
    // A context keeps only the fields of an argument that the callee may
    // read, itself or in what it calls (`crate::field_reads`): the
    // `populate` field decides two calls down, through a callee that never
    // tests it, so the holder passing 0 stays clean and its look-alike
    // passing 1 is reported; a fresh object's unread fields change nothing.
    let run = lint("field_reads");
    assert_eq!(sorted_holders(&run, "MMS001"), ["fr_account_and_populate"]);
    assert!(holder_clean(&run, "fr_account_only"));
    assert!(holder_clean(&run, "fr_fresh_account"));
}

#[test]
fn a_helper_that_leaves_a_known_state_decides_the_later_calls() {
    // `fs_clean_up_area(&st)` returns when `!st->nr_pages` and otherwise
    // zaps and clears `st->clear_ptes`: after it, `fs_complete(&st)` finds
    // either no pages or nothing to clear (flow-sensitive field states,
    // `summary::field_states`). Without them the complete step's
    // `unmap_vmas` is reported for `fs_map_over` too; the look-alike that
    // completes without cleaning up first keeps it. `fs_clear_ptes` tests
    // `clear_ptes` before assigning it: the test sees the caller's value.
    let run = lint("field_states");
    let ops: Vec<(&str, &str)> = run
        .report
        .findings
        .iter()
        .filter(|f| f.code == "MMS002")
        .map(|f| (f.holder.as_str(), f.operation.as_str()))
        .collect();
    assert!(
        ops.contains(&("fs_map_over", "zap_page_range_single")),
        "{ops:?}"
    );
    assert!(ops.contains(&("fs_unmap_late", "unmap_vmas")), "{ops:?}");
    assert!(!ops.contains(&("fs_map_over", "unmap_vmas")), "{ops:?}");
    assert_eq!(ops.len(), 2, "{ops:?}");
}

#[test]
fn a_range_mapped_where_there_is_room_replaces_nothing() {
    // Catalogue `[free_range.do_mmap]`: without MAP_FIXED (by name: the
    // fixture's flags have no numbers) the range is free, `vma_find()` in
    // `__mmap_region` returns NULL, and the state struct keeps
    // `nr_pages == 0` past `if (vma)` (tested before `vma` is reassigned:
    // `summary::flow_values`; followed into the clean-up by
    // `summary::field_states`), so the clean-up zaps nothing. MAP_FIXED,
    // and flags the holder does not know, keep the zap.
    let run = lint("free_range");
    assert_eq!(
        sorted_holders(&run, "MMS002"),
        ["demo_map_fixed", "demo_map_user"]
    );
    assert!(holder_clean(&run, "demo_setup_ring"));
    assert!(holder_clean(&run, "demo_map_noreplace"));
}

#[test]
fn a_call_not_followed_from_one_caller_is_followed_from_the_others() {
    // Catalogue `[not_followed_from.unmap_and_move_huge_page]`: a hugetlb
    // folio moves through its mapping's migrate callback, so the move's
    // write-out fallback is not followed from there; the same callee from
    // the regular-folio path still reaches it.
    let run = lint("not_followed_from");
    assert_eq!(sorted_holders(&run, "MMS004"), ["demo_migrate_regular"]);
    assert!(holder_clean(&run, "demo_migrate_huge"));
}

#[test]
fn what_a_caller_hands_a_callee_decides_the_callee_s_branches() {
    // Catalogue `[call_facts.hugetlb_add_to_page_cache.__filemap_add_folio]`:
    // the folio is a hugetlb one (`$1.@folio_test_hugetlb` = 1: what the
    // call returns there), so the memcg charge and its writeback wait are
    // not reached;
    // the same callee from another caller keeps them.
    let run = lint("call_facts");
    assert_eq!(sorted_holders(&run, "MMS004"), ["demo_shmem_copy"]);
    assert!(holder_clean(&run, "demo_hugetlb_copy"));
}

#[test]
fn a_caller_s_fact_that_flags_are_clear_decides_the_callee_s_tests_of_them() {
    // `[call_facts.do_swap_page.do_wp_page]`: VM_SHARED and VM_MAYSHARE
    // clear, read through the local `vma = vmf->vma` and in
    // `(flags & (VM_WRITE|VM_SHARED)) == (VM_WRITE|VM_SHARED)`: the
    // shared-mapping branches are dead. The write-fault path keeps them.
    let run = lint("call_facts_clear");
    assert_eq!(
        sorted_holders(&run, "MMS004"),
        ["demo_other_fault", "demo_write_fault"]
    );
    // The same fact (a user's catalogue extension) handed to a look-alike
    // whose local is reassigned: no alias, the finding stays.
    let user = "[call_facts.demo_swap_other.demo_wp_other]\nwhy = \"test\"\n\
                facts = { \"$0.vma.vm_flags\" = { clear = [\"VM_SHARED\", \"VM_MAYSHARE\"] } }\n";
    let cat = Catalogue::with_user_str(user, std::path::Path::new("mmstall.toml"))
        .expect("extension valid");
    let run =
        lint_path(&fixture("call_facts_clear"), &cat, &LintOptions::default()).expect("lint runs");
    assert_eq!(
        sorted_holders(&run, "MMS004"),
        ["demo_other_fault", "demo_write_fault"]
    );
}

#[test]
fn flags_known_clear_stay_clear_through_bit_steps_further_down() {
    // `[call_facts.ttm_bo_init_reserved.ttm_bo_validate]`: TTM_TT_FLAG_SWAPPED
    // clear, through ttm_tt_populate()'s `|= TTM_TT_FLAG_PRIV_POPULATED`
    // (seen from ttm_bo_validate() as that bit step); the radeon ioctl also
    // hands a device with a populate hook. An existing object reaches both.
    let run = lint("ttm_bits");
    let found: BTreeSet<(&str, u32)> = run
        .report
        .findings
        .iter()
        .map(|f| (f.holder.as_str(), f.line))
        .collect();
    let want: BTreeSet<(&str, u32)> = [
        ("demo_validate_existing", 20),
        ("demo_validate_existing", 27),
        ("ttm_bo_init_reserved", 27),
    ]
    .into_iter()
    .collect();
    assert_eq!(found, want);
}

#[test]
fn an_assertion_ends_the_paths_on_which_its_condition_holds() {
    // `[asserts]`: `VM_BUG_ON(!migrate)` with no migrate_vma handed down.
    // A local handed by address to a callee is no constant there.
    let run = lint("asserts");
    assert_eq!(
        sorted_holders(&run, "MMS004"),
        ["demo_copy_retry", "demo_vma_migrate", "demo_warned_migrate"]
    );
    assert!(holder_clean(&run, "demo_coherent_migrate"));
}
