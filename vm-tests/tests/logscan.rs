//! The log scanner against in-house sample logs, one per kind of kernel report
//! (tests/data/logs/*.log, written for these tests).

use mmstall_vm::logscan::{scan, summarize, EventKind};

fn sample(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/logs").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// (kind, first line, line number, fingerprint) of every event in a log.
fn brief(name: &str) -> Vec<(EventKind, String, usize, String)> {
    scan(&sample(name)).into_iter().map(|e| (e.kind, e.first_line, e.line, e.fingerprint)).collect()
}

#[test]
fn clean_boot_has_no_events() {
    assert_eq!(brief("clean-boot.log"), vec![]);
}

#[test]
fn hung_task() {
    assert_eq!(
        brief("hung-task.log"),
        vec![(
            EventKind::HungTask,
            "INFO: task mmap-writer:214 blocked for more than 30 seconds.".into(),
            3,
            "hung-task:rwsem_down_write_slowpath,down_write_killable,vm_mmap_pgoff,ksys_mmap_pgoff".into()
        )]
    );
    let ev = scan(&sample("hung-task.log"));
    // Unreliable `? ` frames are not in the stack; the scheduler frames are kept
    // in `functions` but left out of the fingerprint.
    assert_eq!(&ev[0].functions[..3], &["__schedule", "schedule", "schedule_preempt_disabled"]);
    assert!(!ev[0].functions.iter().any(|f| f.contains("__pfx_")));
}

#[test]
fn soft_lockup_uses_rip_first() {
    assert_eq!(
        brief("soft-lockup.log"),
        vec![(
            EventKind::SoftLockup,
            "watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [spinner:301]".into(),
            1,
            "soft-lockup:walk_pgd_range,walk_page_range,madvise_cold_or_pageout_pte_range,do_madvise".into()
        )]
    );
}

#[test]
fn warning_ends_at_end_trace() {
    assert_eq!(
        brief("warning.log"),
        vec![(
            EventKind::Warning,
            "WARNING: CPU: 0 PID: 188 at mm/mmap.c:1234 do_vmi_munmap+0x1c4/0x1e0".into(),
            2,
            "warning:do_vmi_munmap,__vm_munmap,__x64_sys_munmap,do_syscall_64".into()
        )]
    );
}

#[test]
fn oops_then_panic_are_two_events() {
    assert_eq!(
        brief("oops-panic.log"),
        vec![
            (
                EventKind::Oops,
                "BUG: kernel NULL pointer dereference, address: 0000000000000008".into(),
                1,
                "oops:handle_mm_fault,do_user_addr_fault,exc_page_fault,asm_exc_page_fault".into()
            ),
            (EventKind::Panic, "Kernel panic - not syncing: Fatal exception".into(), 23, "panic:".into()),
        ]
    );
}

#[test]
fn lockdep_splat_fingerprint_skips_lockdep_internals() {
    assert_eq!(
        brief("lockdep.log"),
        vec![(
            EventKind::Lockdep,
            "WARNING: possible circular locking dependency detected".into(),
            3,
            "lockdep:__might_fault,_copy_to_user,myfs_read,vfs_read".into()
        )]
    );
}

#[test]
fn bad_page_state() {
    assert_eq!(
        brief("bad-page-state.log"),
        vec![(
            EventKind::BadPageState,
            "BUG: Bad page state in process swapper  pfn:03a2c".into(),
            1,
            "bad-page-state:free_unref_folios,folios_put_refs,release_pages,tlb_flush_mmu".into()
        )]
    );
}

#[test]
fn plain_bug_strips_compiler_suffixes() {
    let ev = scan(&sample("bug-sleeping.log"));
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].kind, EventKind::Bug);
    assert_eq!(ev[0].functions[1], "__might_resched");
    assert_eq!(ev[0].fingerprint, "bug:down_read,lock_mm_and_find_vma,do_user_addr_fault");
}

#[test]
fn hard_lockup_and_rcu_stall() {
    assert_eq!(
        brief("hard-lockup-rcu.log"),
        vec![
            (
                EventKind::HardLockup,
                "watchdog: Watchdog detected hard LOCKUP on cpu 1".into(),
                1,
                "hard-lockup:native_queued_spin_lock_slowpath,_raw_spin_lock,zap_pte_range".into()
            ),
            (
                EventKind::RcuStall,
                "rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:".into(),
                11,
                "rcu-stall:native_queued_spin_lock_slowpath,_raw_spin_lock,zap_pte_range".into()
            ),
        ]
    );
}

#[test]
fn all_samples_concatenated_give_the_sum_of_events() {
    let names = [
        "clean-boot.log",
        "hung-task.log",
        "soft-lockup.log",
        "warning.log",
        "oops-panic.log",
        "lockdep.log",
        "bad-page-state.log",
        "bug-sleeping.log",
        "hard-lockup-rcu.log",
    ];
    let mut all = String::new();
    let mut expected = 0;
    for n in names {
        expected += scan(&sample(n)).len();
        all.push_str(&sample(n));
    }
    let ev = scan(&all);
    assert_eq!(ev.len(), expected);
    assert_eq!(expected, 10);
    let kinds: Vec<EventKind> = summarize(&ev).into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds.len(), 10, "{kinds:?}");
}

#[test]
fn dmesg_style_without_timestamps_and_with_caller_ids() {
    // The same report as printed by `dmesg` without timestamps and by a kernel
    // with CONFIG_PRINTK_CALLER: identical events.
    let with_ts = sample("hung-task.log");
    let no_ts: String = with_ts.lines().map(|l| format!("{}\n", &l[l.find(']').unwrap() + 2..])).collect();
    let caller: String = with_ts.lines().map(|l| l.replacen("] ", "][  T214] ", 1) + "\n").collect();
    let a = scan(&with_ts);
    assert_eq!(a, scan(&no_ts));
    assert_eq!(a, scan(&caller));
}

#[test]
fn truncated_report_at_end_of_log_is_still_reported() {
    // A guest that dies mid-report: the scanner returns what it has.
    let log: String = sample("hung-task.log").lines().take(13).map(|l| format!("{l}\n")).collect();
    let ev = scan(&log);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].kind, EventKind::HungTask);
    assert_eq!(ev[0].fingerprint, "hung-task:rwsem_down_write_slowpath");
}
