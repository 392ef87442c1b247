//! Long call chains (issue 12, item 8): memory must not grow with the square
//! of the chain's depth, and when a bound of the analysis cuts a result the
//! output says so, per holder, instead of dropping findings without a word.
//! Inputs are generated here (nothing large is committed).

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};

use mmstall_analyzer::{lint_set, Catalogue, LintOptions, LintRun, MemoryTree};

/// Counts the bytes allocated by this test binary, and the peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Tests that measure the peak run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A write holder calling down a chain of `depth` functions, the last of
/// which zaps: `chain_0` .. `chain_{depth-1}`.
fn chain_file(depth: usize) -> String {
    let mut s = String::from(
        "int holder(struct mm_struct *mm, unsigned long a)\n{\n\tint ret;\n\n\tmmap_write_lock(mm);\n\tret = chain_0(mm, a);\n\tmmap_write_unlock(mm);\n\treturn ret;\n}\n\n",
    );
    for k in 0..depth {
        if k + 1 < depth {
            let _ = write!(
                s,
                "static int chain_{k}(struct mm_struct *mm, unsigned long a)\n{{\n\treturn chain_{}(mm, a + 1);\n}}\n\n",
                k + 1
            );
        } else {
            let _ = write!(
                s,
                "static int chain_{k}(struct mm_struct *mm, unsigned long a)\n{{\n\tzap_page_range_single(vma, a, 4096, NULL);\n\treturn 0;\n}}\n\n"
            );
        }
    }
    s
}

/// A write holder calling down a chain of `depth` functions, each of which
/// zaps, then calls the next: every level has as many hits as the bound
/// allows, each with a chain down to its zap (2.7 GB at 2,000 when each
/// level copied its callee's chains).
fn zapping_chain_file(depth: usize) -> String {
    let mut s = String::from(
        "int holder(struct mm_struct *mm, unsigned long a)\n{\n\tmmap_write_lock(mm);\n\tchain_0(mm, a);\n\tmmap_write_unlock(mm);\n\treturn 0;\n}\n\n",
    );
    for k in 0..depth {
        let next = if k + 1 < depth {
            format!("\tchain_{}(mm, a);\n", k + 1)
        } else {
            String::new()
        };
        let _ = write!(
            s,
            "static void chain_{k}(struct mm_struct *mm, unsigned long a)\n{{\n\tzap_page_range_single(vma, a, 4096, NULL);\n{next}}}\n\n"
        );
    }
    s
}

fn lint_one(name: &str, text: String) -> LintRun {
    let mut tree = MemoryTree::default();
    tree.files.insert(name.to_string(), text.into_bytes());
    lint_set(&tree, &Catalogue::builtin(), &LintOptions::default())
}

fn cut_notes(run: &LintRun) -> Vec<String> {
    run.report
        .skipped
        .iter()
        .filter(|s| s.reason.contains("results cut"))
        .map(|s| s.reason.clone())
        .collect()
}

#[test]
fn two_thousand_chained_functions_stay_small() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let text = chain_file(2000);
    assert!(text.len() > 150_000, "{}", text.len());
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let run = lint_one("mm/chain.c", text);
    let peak = PEAK.load(Ordering::Relaxed) - before;
    assert_eq!(run.report.findings.len(), 1, "{:?}", run.report.skipped);
    let f = &run.report.findings[0];
    assert_eq!(f.holder, "holder");
    assert_eq!(f.call_path.len(), 2001);
    assert!(cut_notes(&run).is_empty(), "{:?}", cut_notes(&run));
    // Quadratic state took 2.7 GB here; linear state is a few MB.
    assert!(peak < 150 << 20, "peak {} MiB", peak >> 20);
}

#[test]
fn two_thousand_zapping_functions_stay_small() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let text = zapping_chain_file(2000);
    assert!(text.len() > 200_000, "{}", text.len());
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let run = lint_one("mm/chain.c", text);
    let peak = PEAK.load(Ordering::Relaxed) - before;
    // The holder's hits stop at the bound, and the output says so.
    assert_eq!(run.report.findings.len(), 64);
    let notes = cut_notes(&run);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("more than 64 long operations"),
        "{notes:?}"
    );
    assert!(peak < 150 << 20, "peak {} MiB", peak >> 20);
}

#[test]
fn a_chain_deeper_than_the_entry_limit_is_noted() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let run = lint_one("mm/chain.c", chain_file(3100));
    let notes = cut_notes(&run);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].starts_with("holder `holder` (line 1): results cut:"),
        "{notes:?}"
    );
    assert!(notes[0].contains("call chain deeper than"), "{notes:?}");
}

/// A cycle `ring_0 → ring_1 → … → ring_{n-1} → ring_0` entered from a holder;
/// `ring_{at}` zaps.
fn ring_file(n: usize, at: usize) -> String {
    let mut s = String::from(
        "int holder(struct mm_struct *mm, unsigned long a)\n{\n\tint ret;\n\n\tmmap_write_lock(mm);\n\tret = ring_0(mm, a);\n\tmmap_write_unlock(mm);\n\treturn ret;\n}\n\n",
    );
    for k in 0..n {
        let next = (k + 1) % n;
        let zap = if k == at {
            "\tzap_page_range_single(vma, a, 4096, NULL);\n"
        } else {
            ""
        };
        let _ = write!(
            s,
            "static int ring_{k}(struct mm_struct *mm, unsigned long a)\n{{\n{zap}\tif (a)\n\t\treturn ring_{next}(mm, a - 1);\n\treturn 0;\n}}\n\n"
        );
    }
    s
}

#[test]
fn a_long_operation_deep_in_a_cycle_is_found_or_noted() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // A cycle shorter than the bound: found, nothing cut.
    let run = lint_one("mm/ring.c", ring_file(30, 25));
    assert_eq!(run.report.findings.len(), 1);
    assert!(cut_notes(&run).is_empty(), "{:?}", cut_notes(&run));
    // Near the entry of a longer cycle: found, and the cut beyond is noted.
    let run = lint_one("mm/ring.c", ring_file(60, 3));
    assert_eq!(run.report.findings.len(), 1);
    assert_eq!(cut_notes(&run).len(), 1);
    // 50 calls into the cycle: beyond the bound, so noted.
    let run = lint_one("mm/ring.c", ring_file(60, 50));
    let notes = cut_notes(&run);
    assert!(run.report.findings.is_empty());
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].starts_with("holder `holder` (line 1): results cut:"));
    assert!(notes[0].contains("call cycle"), "{notes:?}");
}

#[test]
fn too_many_long_sites_behind_one_holder_are_noted() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = String::from(
        "int holder(struct mm_struct *mm, unsigned long a)\n{\n\tmmap_write_lock(mm);\n\tmany(mm, a);\n\tmmap_write_unlock(mm);\n\treturn 0;\n}\n\nstatic void many(struct mm_struct *mm, unsigned long a)\n{\n",
    );
    for k in 0..250 {
        let _ = writeln!(s, "\tzap_page_range_single(vma, a + {k}, 4096, NULL);");
    }
    s.push_str("}\n");
    let run = lint_one("mm/many.c", s);
    let notes = cut_notes(&run);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].starts_with("holder `holder` (line 1): results cut:"));
    assert!(notes[0].contains("long operations"), "{notes:?}");
    assert!(!run.report.findings.is_empty());
}
