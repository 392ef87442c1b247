use super::*;

/// A trace in the format of 6.12's `trace` file, written for these tests:
/// a munmap whose write hold ends in a downgrade, the read hold released
/// later, a second task's plain write hold on another mm, a trylock that
/// failed, a marker line and a lost-events line.
const DOWNGRADE: &str = "\
# tracer: nop
#
#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
#              | |         |   |||||     |         |
    munmap-test-101   [001] .....    10.000100: mmap_lock_start_locking: mm=00000000aaaa0001 memcg_path=/ write=true
    munmap-test-101   [001] .....    10.000200: mmap_lock_acquire_returned: mm=00000000aaaa0001 memcg_path=/ write=true success=true
    munmap-test-101   [001] .....    10.000210: <stack trace>
 => trace_event_raw_event_mmap_lock_acquire_returned
 => __mmap_lock_do_trace_acquire_returned
 => mmap_write_lock_killable
 => __vm_munmap+0x9a/0x120
 => __x64_sys_munmap
 => do_syscall_64
 => entry_SYSCALL_64_after_hwframe
            other-7       [000] .....    10.000300: mmap_lock_acquire_returned: mm=00000000bbbb0002 memcg_path= write=true success=true
    munmap-test-101   [001] .....    10.001200: tracing_mark_write: mmstall: between
    munmap-test-101   [001] .....    10.002200: mmap_lock_acquire_returned: mm=00000000aaaa0001 memcg_path=/ write=false success=true
    munmap-test-101   [001] .....    10.002210: <stack trace>
 => trace_event_raw_event_mmap_lock_acquire_returned
 => __mmap_lock_do_trace_acquire_returned
 => mmap_write_downgrade
 => vms_complete_munmap_vmas.isra.0
 => do_vmi_align_munmap
 => __vm_munmap
            other-7       [000] d..1.    10.003300: mmap_lock_released: mm=00000000bbbb0002 memcg_path= write=true
CPU:0 [LOST 3 EVENTS]
    munmap-test-101   [001] .....    10.052200: mmap_lock_released: mm=00000000aaaa0001 memcg_path=/ write=false
            other-7       [000] .....    10.060000: mmap_lock_acquire_returned: mm=00000000bbbb0002 memcg_path= write=false success=false
";

#[test]
fn parses_events_stacks_and_lost_counts() {
    let p = parse_trace(DOWNGRADE).unwrap();
    assert_eq!(p.events.len(), 7);
    assert_eq!(p.lost_events, 3);
    let first = &p.events[0];
    assert_eq!(
        (first.comm.as_str(), first.pid, first.cpu, first.ts_ns),
        ("munmap-test", 101, 1, 10_000_100_000)
    );
    assert_eq!(first.kind, EventKind::StartLocking);
    assert_eq!(first.mode, Mode::Write);
    // Tracing frames dropped, offsets and compiler suffixes stripped.
    assert_eq!(
        p.events[1].stack,
        vec![
            "mmap_write_lock_killable",
            "__vm_munmap",
            "__x64_sys_munmap",
            "do_syscall_64",
            "entry_SYSCALL_64_after_hwframe"
        ]
    );
    assert_eq!(p.events[3].stack[1], "vms_complete_munmap_vmas");
    assert_eq!(p.events[2].mm, "00000000bbbb0002");
    assert!(p.events[2].stack.is_empty());
}

#[test]
fn a_downgrade_ends_the_write_hold_and_opens_a_read_hold() {
    let p = parse_trace(DOWNGRADE).unwrap();
    let r = pair(&p.events);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let munmap: Vec<&Hold> = r.holds.iter().filter(|h| h.pid == 101).collect();
    assert_eq!(munmap.len(), 2);
    let w = munmap[0];
    assert_eq!(
        (w.mode, w.end, w.hold_ns, w.wait_ns),
        (Mode::Write, HoldEnd::Downgraded, 2_000_000, 100_000)
    );
    assert!(w.has_frame("__vm_munmap"));
    assert!(w.has_frame("vms_complete_munmap_vmas"));
    let rd = munmap[1];
    assert_eq!(
        (rd.mode, rd.end, rd.hold_ns),
        (Mode::Read, HoldEnd::Released, 50_000_000)
    );
    let other: Vec<&Hold> = r.holds.iter().filter(|h| h.pid == 7).collect();
    assert_eq!(other.len(), 1);
    assert_eq!((other[0].hold_ns, other[0].wait_ns), (3_000_000, 0));
}

#[test]
fn unreleased_and_unpaired_events_are_said() {
    let text = "\
  a-1 [000] ..... 1.000000: mmap_lock_acquire_returned: mm=m1 memcg_path=/ write=true success=true
  a-1 [000] ..... 1.500000: mmap_lock_released: mm=m2 memcg_path=/ write=false
  b-2 [001] ..... 1.600000: mmap_lock_acquire_returned: mm=m3 memcg_path=/ write=false success=true
  b-2 [001] ..... 1.700000: mmap_lock_released: mm=m3 memcg_path=/ write=true
  c-3 [001] ..... 2.000000: mmap_lock_released: mm=m4 memcg_path=/ write=false
";
    let r = pair(&parse_trace(text).unwrap().events);
    assert_eq!(r.holds.len(), 1);
    assert_eq!(
        (r.holds[0].end, r.holds[0].hold_ns),
        (HoldEnd::Unreleased, 1_000_000_000)
    );
    assert_eq!(r.warnings.len(), 3, "{:?}", r.warnings);
    assert!(r.warnings[1].contains("released mm m3 for write but held it for read"));
}

#[test]
fn a_read_acquire_after_a_contended_write_is_no_downgrade() {
    // start_locking before the read acquire: a new acquisition (the write
    // hold's release was lost), not a downgrade.
    let text = "\
  a-1 [000] ..... 1.000000: mmap_lock_acquire_returned: mm=m1 memcg_path=/ write=true success=true
  a-1 [000] ..... 1.100000: mmap_lock_start_locking: mm=m1 memcg_path=/ write=false
  a-1 [000] ..... 1.200000: mmap_lock_acquire_returned: mm=m1 memcg_path=/ write=false success=true
  a-1 [000] ..... 1.300000: mmap_lock_released: mm=m1 memcg_path=/ write=false
";
    let r = pair(&parse_trace(text).unwrap().events);
    assert_eq!(r.holds.len(), 1);
    assert_eq!(r.holds[0].mode, Mode::Read);
    assert_eq!(r.holds[0].wait_ns, 100_000_000);
    assert!(r.warnings[0].contains("while holding it for write"));
}

#[test]
fn flags_column_is_optional_and_comm_may_hold_dashes_and_spaces() {
    let text = "  kworker/u4:1-my job-42 [003] 7.25: mmap_lock_acquire_returned: mm=m memcg_path= write=false success=true\n";
    let e = &parse_trace(text).unwrap().events[0];
    assert_eq!(
        (e.comm.as_str(), e.pid, e.cpu, e.ts_ns),
        ("kworker/u4:1-my job", 42, 3, 7_250_000_000)
    );
}

#[test]
fn an_unreadable_event_line_is_an_error_naming_the_line() {
    let text =
        "# header\n  a-1 [000] ..... 1.0: mmap_lock_released: mm=m1 memcg_path=/ write=maybe\n";
    let e = parse_trace(text).unwrap_err();
    assert_eq!(e.line, 2);
    assert!(e
        .to_string()
        .contains("`write=maybe` is neither true nor false"));
    let e = parse_trace("mmap_lock_released: garbage\n").unwrap_err();
    assert_eq!(e.line, 1);
}

#[test]
fn reportable_keeps_every_write_hold_and_long_read_holds() {
    let p = parse_trace(DOWNGRADE).unwrap();
    let holds = reportable(pair(&p.events).holds, 10_000_000);
    let modes: Vec<(Mode, u64)> = holds.iter().map(|h| (h.mode, h.hold_ns)).collect();
    assert_eq!(
        modes,
        vec![
            (Mode::Write, 2_000_000),
            (Mode::Write, 3_000_000),
            (Mode::Read, 50_000_000)
        ]
    );
    // Below the threshold the read hold is still kept: the only one of its stacks.
    let short = reportable(pair(&p.events).holds, 60_000_000);
    assert_eq!(short.len(), 3);
}

/// A read hold of `hold_ns` with the given acquiring frame, starting at `start_ns`.
fn read_hold(start_ns: u64, hold_ns: u64, frame: &str) -> Hold {
    Hold {
        comm: "t".into(),
        pid: 1,
        mm: "m".into(),
        mode: Mode::Read,
        start_ns,
        hold_ns,
        wait_ns: 0,
        end: HoldEnd::Released,
        acquire_stack: vec![frame.to_string()],
        release_stack: vec![],
    }
}

#[test]
fn reportable_keeps_the_longest_short_read_hold_of_each_stack() {
    let holds = vec![
        read_hold(1, 300, "do_user_addr_fault"),
        read_hold(2, 900, "do_user_addr_fault"),
        read_hold(3, 500, "unuse_mm"),
        read_hold(4, 20_000, "do_user_addr_fault"),
        read_hold(5, 100, "do_user_addr_fault"),
        read_hold(6, 700, "unuse_mm"),
    ];
    let kept: Vec<(u64, u64)> = reportable(holds, 10_000)
        .iter()
        .map(|h| (h.start_ns, h.hold_ns))
        .collect();
    // The long one, and per stack the longest short one, in start order.
    assert_eq!(kept, vec![(2, 900), (4, 20_000), (6, 700)]);
}

#[test]
fn a_hold_open_when_tracing_paused_is_not_paired_across_the_pause() {
    // ksmd-33 acquires, tracing pauses (its release and next acquire are
    // not in the trace), it resumes and the next hold's release arrives.
    let text = "\
           ksmd-33  [000] .....    20.000000: mmap_lock_acquire_returned: mm=00000000cccc0003 memcg_path= write=false success=true
           ksmd-33  [000] .....    20.000001: <stack trace>
 => mmap_read_lock
 => try_to_merge_with_ksm_page
 => ksm_scan_thread
      confirm-9     [001] .....    20.000100: tracing_mark_write: mmstall: trace paused
           ksmd-33  [000] .....    20.700000: mmap_lock_released: mm=00000000cccc0003 memcg_path= write=false
           ksmd-33  [000] .....    20.800000: mmap_lock_acquire_returned: mm=00000000cccc0003 memcg_path= write=false success=true
           ksmd-33  [000] .....    20.800500: mmap_lock_released: mm=00000000cccc0003 memcg_path= write=false
";
    let p = parse_trace(text).unwrap();
    assert_eq!(p.events[1].kind, EventKind::Paused);
    let paired = pair(&p.events);
    // Not one 700 ms hold: the released-without-acquisition is said, and
    // the hold after the pause is measured.
    let h: Vec<u64> = paired.holds.iter().map(|h| h.hold_ns).collect();
    assert_eq!(h, vec![500_000]);
    assert!(paired.warnings[0].contains("tracing paused with 1 holds open"));
    assert!(paired.warnings[1].contains("without an acquisition"));
}

#[test]
fn a_hold_taken_between_the_pause_marker_and_the_pause_is_not_paired_either() {
    // ksmd acquires after the pause marker, before tracing stops; after the
    // resume marker only the release of a later hold is in the trace.
    let text = "\
      confirm-9     [001] .....    20.000100: tracing_mark_write: mmstall: trace paused
           ksmd-33  [000] .....    20.000200: mmap_lock_acquire_returned: mm=00000000cccc0003 memcg_path= write=false success=true
      confirm-9     [001] .....    23.000000: tracing_mark_write: mmstall: trace resumed
           ksmd-33  [000] .....    23.000100: mmap_lock_released: mm=00000000cccc0003 memcg_path= write=false
";
    let p = parse_trace(text).unwrap();
    assert_eq!(p.events[2].kind, EventKind::Paused);
    let paired = pair(&p.events);
    assert!(paired.holds.is_empty(), "{:?}", paired.holds);
}

#[test]
fn frame_names_lose_offsets_and_suffixes() {
    assert_eq!(frame_name(" __vm_munmap+0x9a/0x120 "), "__vm_munmap");
    assert_eq!(frame_name("mlock_fixup.constprop.0"), "mlock_fixup");
    assert_eq!(frame_name("do_mlock [vmlinux]"), "do_mlock");
}
