use super::*;
use mmstall_stall_judge::holds;

/// Trace text (6.12's format, written for these tests) of one write hold:
/// acquired with `acquire` as the stack, ended after `ms` by a release
/// (or a downgrade) with `end` as the stack.
fn trace(pid: u32, ms: u64, acquire: &[&str], end: &[&str], downgrade: bool) -> String {
    let stack =
        |frames: &[&str]| -> String { frames.iter().map(|f| format!(" => {f}\n")).collect() };
    let t0 = 100_000_000u64; // µs
    let t1 = t0 + ms * 1000;
    let ts = |us: u64| format!("{}.{:06}", us / 1_000_000, us % 1_000_000);
    let ending = if downgrade {
        "mmap_lock_acquire_returned: mm=m memcg_path=/ write=false success=true"
    } else {
        "mmap_lock_released: mm=m memcg_path=/ write=true"
    };
    format!(
        "  w-{pid} [000] ..... {}: mmap_lock_start_locking: mm=m memcg_path=/ write=true\n\
         \x20 w-{pid} [000] ..... {}: mmap_lock_acquire_returned: mm=m memcg_path=/ write=true success=true\n\
         \x20 w-{pid} [000] ..... {}: <stack trace>\n{}\
         \x20 w-{pid} [000] ..... {}: {ending}\n\
         \x20 w-{pid} [000] ..... {}: <stack trace>\n{}",
        ts(t0),
        ts(t0),
        ts(t0),
        stack(acquire),
        ts(t1),
        ts(t1),
        stack(end),
    )
}

/// A report of the confirm kernel (6.12.118) with these runs.
fn report(thp: &str, runs: Vec<RecipeRun>) -> ConfirmReport {
    ConfirmReport {
        version: 1,
        kernel_release: "6.12.118".into(),
        thp: thp.into(),
        read_threshold_ms: 10.0,
        runs,
    }
}

fn run(recipe: &str, size: u64, text: &str) -> RecipeRun {
    let p = holds::parse_trace(text).unwrap();
    RecipeRun {
        recipe: recipe.into(),
        size_mib: size,
        rep: 1,
        status: RunStatus::Ran,
        secs: 1.0,
        holds: holds::reportable(holds::pair(&p.events).holds, 10_000_000),
        lost_events: 0,
        warnings: vec![],
    }
}

fn unavailable(recipe: &str, size: u64) -> RecipeRun {
    RecipeRun {
        recipe: recipe.into(),
        size_mib: size,
        rep: 1,
        status: RunStatus::Unavailable {
            reason: "madvise(MADV_MERGEABLE) (KSM): Function not implemented (os error 38)".into(),
        },
        secs: 0.0,
        holds: vec![],
        lost_events: 0,
        warnings: vec![],
    }
}

fn finding(code: &str, function: &str, holder: &str) -> StaticFinding {
    StaticFinding {
        code: code.into(),
        rule: String::new(),
        file: "mm/x.c".into(),
        line: 1,
        function: function.into(),
        holder: holder.into(),
        call_path: vec![holder.into(), function.into()],
        operation: String::new(),
        lock_mode: "write".into(),
        fingerprint: String::new(),
    }
}

const MUNMAP_ACQ: &[&str] = &[
    "mmap_write_lock_killable",
    "__vm_munmap",
    "__x64_sys_munmap",
    "do_syscall_64",
];
const MUNMAP_END: &[&str] = &[
    "mmap_write_unlock",
    "vms_complete_munmap_vmas",
    "do_vmi_align_munmap",
    "__vm_munmap",
];

/// A regression-like kernel: munmap's write hold grows with size; mlockall
/// short; fork long with no finding; KSM missing; one holder never reached.
pub(in crate::confirm) fn sample() -> (Vec<StaticFinding>, ConfirmReport) {
    let fork_acq = ["copy_process", "kernel_clone", "__do_sys_clone"];
    let mlockall = [
        "mmap_write_lock_killable",
        "__x64_sys_mlockall",
        "do_syscall_64",
    ];
    let report = report(
        "never",
        vec![
            run("munmap", 64, &trace(11, 40, MUNMAP_ACQ, MUNMAP_END, false)),
            run(
                "munmap",
                256,
                &trace(12, 170, MUNMAP_ACQ, MUNMAP_END, false),
            ),
            run("mlockall", 64, &trace(13, 2, &mlockall, &mlockall, false)),
            run("mlockall", 256, &trace(14, 6, &mlockall, &mlockall, false)),
            run("fork", 64, &trace(15, 20, &fork_acq, &fork_acq, false)),
            run("fork", 256, &trace(16, 80, &fork_acq, &fork_acq, false)),
            run(
                "exit",
                64,
                &trace(17, 1, &["exit_mmap", "__mmput"], &["exit_mmap"], false),
            ),
            run(
                "exit",
                256,
                &trace(18, 1, &["exit_mmap", "__mmput"], &["exit_mmap"], false),
            ),
            run(
                "map-fixed",
                64,
                &trace(19, 1, &["__x64_sys_brk"], &["__x64_sys_brk"], false),
            ),
            unavailable("ksm-prctl-disable", 64),
            unavailable("ksm-prctl-disable", 256),
        ],
    );
    let findings = vec![
        finding("MMS002", "vms_complete_munmap_vmas", "__vm_munmap"),
        finding("MMS003", "mlock_vma_pages_range", "sys_mlockall"),
        finding("MMS001", "break_ksm", "ksm_disable"),
        finding("MMS002", "__mmap_region", "vm_mmap_pgoff"),
        finding("MMS004", "filemap_fault", "filemap_read"),
    ];
    (findings, report)
}

#[test]
fn each_finding_gets_one_outcome() {
    let (findings, report) = sample();
    let c = confirm(&findings, &report, &Catalogue::builtin(), 50.0);
    let words: Vec<&str> = c.outcomes.iter().map(|o| o.outcome.word()).collect();
    assert_eq!(
        words,
        vec![
            "confirmed",
            "short",
            "no workload",
            "not reached",
            "no workload"
        ]
    );
    let Outcome::Confirmed { evidence } = &c.outcomes[0].outcome else {
        unreachable!()
    };
    assert_eq!(
        evidence.sizes.iter().map(|s| s.max_ms).collect::<Vec<_>>(),
        vec![40.0, 170.0]
    );
    assert_eq!(evidence.growth, Some(4.25));
    assert!(evidence.site_in_stack);
    assert_eq!(evidence.acquire_stack[1], "__vm_munmap");
    // A syscall holder matches its wrapper frame.
    let Outcome::Short { evidence } = &c.outcomes[1].outcome else {
        unreachable!()
    };
    assert_eq!(evidence.largest().unwrap().max_ms, 6.0);
    assert!(!evidence.site_in_stack);
    let Outcome::NoWorkload { reason } = &c.outcomes[2].outcome else {
        unreachable!()
    };
    assert!(reason.starts_with("ksm-prctl-disable: madvise(MADV_MERGEABLE) (KSM)"));
    assert_eq!(
        c.outcomes[3].outcome,
        Outcome::NotReached {
            recipes: vec!["map-fixed".into()]
        }
    );
    let Outcome::NoWorkload { reason } = &c.outcomes[4].outcome else {
        unreachable!()
    };
    assert_eq!(
        reason,
        "no recipe reaches `filemap_read` (vm-tests/confirm.toml)"
    );
}

/// A read finding (MMS004) of `holder` on `call_path`.
fn read_finding(function: &str, holder: &str, call_path: &[&str]) -> StaticFinding {
    StaticFinding {
        lock_mode: "read".into(),
        call_path: call_path.iter().map(|s| s.to_string()).collect(),
        ..finding("MMS004", function, holder)
    }
}

/// Trace text of one read hold of `us` µs (acquired and released with the
/// given stacks), starting `at_us` µs into the trace.
fn read_trace(pid: u32, at_us: u64, us: u64, acquire: &[&str], end: &[&str]) -> String {
    let stack =
        |frames: &[&str]| -> String { frames.iter().map(|f| format!(" => {f}\n")).collect() };
    let ts = |t: u64| {
        let t = 100_000_000 + t;
        format!("{}.{:06}", t / 1_000_000, t % 1_000_000)
    };
    format!(
        "  r-{pid} [000] ..... {}: mmap_lock_start_locking: mm=m memcg_path=/ write=false\n\
         \x20 r-{pid} [000] ..... {}: mmap_lock_acquire_returned: mm=m memcg_path=/ write=false success=true\n\
         \x20 r-{pid} [000] ..... {}: <stack trace>\n{}\
         \x20 r-{pid} [000] ..... {}: mmap_lock_released: mm=m memcg_path=/ write=false\n\
         \x20 r-{pid} [000] ..... {}: <stack trace>\n{}",
        ts(at_us),
        ts(at_us),
        ts(at_us),
        stack(acquire),
        ts(at_us + us),
        ts(at_us + us),
        stack(end),
    )
}

#[test]
fn a_short_read_hold_of_the_holder_is_measured_not_missed() {
    // swapoff: unuse_mm inlined, the hold shows the syscall (a catalogue frame).
    let swapoff = ["__x64_sys_swapoff", "do_syscall_64"];
    let fault = ["lock_mm_and_find_vma", "exc_page_fault"];
    let at = |size, ms_unuse: u64| {
        let text = read_trace(21, 0, 300, &fault, &fault)
            + &read_trace(21, 1_000, ms_unuse * 1000, &swapoff, &swapoff);
        run("swapoff", size, &text)
    };
    let report = report("never", vec![at(64, 2), at(256, 8)]);
    let f = read_finding(
        "unuse_pte_range",
        "unuse_mm",
        &["unuse_mm", "unuse_vma", "unuse_pte_range"],
    );
    let c = confirm(&[f], &report, &Catalogue::builtin(), 50.0);
    // 2 and 8 ms are below the 10 ms read threshold, yet kept and matched.
    let Outcome::Short { evidence } = &c.outcomes[0].outcome else {
        panic!("{:?}", c.outcomes[0].outcome)
    };
    assert_eq!(
        evidence.sizes.iter().map(|s| s.max_ms).collect::<Vec<_>>(),
        vec![2.0, 8.0]
    );
    assert_eq!(evidence.mode, Mode::Read);
}

#[test]
fn a_path_no_workload_can_reach_says_why() {
    let f = read_finding(
        "shrink_folio_list",
        "handle_mm_fault",
        &["handle_mm_fault", "hugetlb_fault", "shrink_folio_list"],
    );
    let report = report("never", vec![]);
    let c = confirm(&[f], &report, &Catalogue::builtin(), 50.0);
    let Outcome::NoWorkload { reason } = &c.outcomes[0].outcome else {
        panic!("{:?}", c.outcomes[0].outcome)
    };
    assert!(reason.contains("CONFIG_HUGETLBFS"), "{reason}");
    assert!(reason.ends_with("(vm-tests/confirm.toml)"), "{reason}");
}

#[test]
fn read_findings_do_not_explain_long_write_holds() {
    // do_madvise is a frame of handle_mm_fault's entry (the populate
    // recipes), yet a long madvise write hold stays a discovery.
    let acq = [
        "mmap_write_lock_killable",
        "do_madvise",
        "__x64_sys_madvise",
    ];
    let report = report(
        "never",
        vec![
            run("madvise-unmergeable", 64, &trace(31, 60, &acq, &acq, false)),
            run(
                "madvise-unmergeable",
                256,
                &trace(32, 240, &acq, &acq, false),
            ),
        ],
    );
    let f = read_finding(
        "do_page_mkwrite",
        "handle_mm_fault",
        &["handle_mm_fault", "do_page_mkwrite"],
    );
    let c = confirm(&[f], &report, &Catalogue::builtin(), 50.0);
    assert_eq!(c.discovered.len(), 1);
    assert_eq!(c.discovered[0].signature[0], "do_madvise");
}

#[test]
fn a_holder_whose_recipes_did_not_run_has_no_workload() {
    let (findings, mut report) = sample();
    report.runs.retain(|r| r.recipe != "map-fixed");
    let c = confirm(&findings, &report, &Catalogue::builtin(), 50.0);
    assert_eq!(
        c.outcomes[3].outcome,
        Outcome::NoWorkload {
            reason: "map-fixed: not run".into()
        }
    );
}

#[test]
fn a_downgrade_ends_the_hold_measured_for_the_finding() {
    let findings = vec![finding("MMS002", "vms_complete_munmap_vmas", "__vm_munmap")];
    let mut end = MUNMAP_END.to_vec();
    end[0] = "mmap_write_downgrade";
    let report = report(
        "",
        vec![
            run("munmap", 64, &trace(1, 0, MUNMAP_ACQ, &end, true)),
            run("munmap", 256, &trace(2, 0, MUNMAP_ACQ, &end, true)),
        ],
    );
    let c = confirm(&findings, &report, &Catalogue::builtin(), 50.0);
    let Outcome::Short { evidence } = &c.outcomes[0].outcome else {
        panic!("{:?}", c.outcomes[0])
    };
    assert_eq!(evidence.end, HoldEnd::Downgraded);
    assert_eq!(evidence.growth, None, "0 ms at the small size: no ratio");
}

#[test]
fn long_holds_without_a_finding_are_discovered() {
    let (findings, report) = sample();
    let c = confirm(&findings, &report, &Catalogue::builtin(), 50.0);
    assert_eq!(c.discovered.len(), 1);
    let d = &c.discovered[0];
    assert_eq!(
        d.signature,
        vec!["copy_process", "kernel_clone", "__do_sys_clone"]
    );
    assert_eq!(
        d.evidence
            .sizes
            .iter()
            .map(|s| (s.size_mib, s.max_ms))
            .collect::<Vec<_>>(),
        vec![(64, 20.0), (256, 80.0)]
    );
    // The munmap hold is explained by its finding; without it, it is discovered too.
    let c = confirm(&findings[1..], &report, &Catalogue::builtin(), 50.0);
    assert_eq!(c.discovered.len(), 2);
    assert_eq!(c.discovered[0].signature[0], "__vm_munmap");
}

#[test]
fn a_size_figure_is_the_median_over_repetitions() {
    let findings = vec![finding("MMS002", "vms_complete_munmap_vmas", "__vm_munmap")];
    let rep = |size, n, ms| {
        let mut r = run("munmap", size, &trace(n, ms, MUNMAP_ACQ, MUNMAP_END, false));
        r.rep = n;
        r
    };
    // The first repetition is slow at the small size (TCG translating the
    // code the first time): the median does not see it.
    let report = report(
        "",
        vec![
            rep(64, 1, 200),
            rep(256, 1, 180),
            rep(64, 2, 40),
            rep(256, 2, 170),
            rep(64, 3, 45),
            rep(256, 3, 160),
        ],
    );
    let c = confirm(&findings, &report, &Catalogue::builtin(), 50.0);
    let Outcome::Confirmed { evidence } = &c.outcomes[0].outcome else {
        panic!("{:?}", c.outcomes[0])
    };
    assert_eq!(evidence.sizes[0].per_rep_ms, vec![200.0, 40.0, 45.0]);
    assert_eq!(
        (evidence.sizes[0].max_ms, evidence.sizes[1].max_ms),
        (45.0, 170.0)
    );
    assert_eq!(evidence.growth, Some(3.78));
    assert_eq!(median(&[1.0, 4.0, 2.0, 3.0]), 2.5);
}
