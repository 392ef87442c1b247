//! The lock-hold stall tests (munmap, mremap, brk, mlock, MAP_POPULATE):
//! every repetition forks a *target*, which prepares memory, starts a thread
//! that keeps faulting other memory and runs the operation, and a *reader*
//! of /proc/TARGET/cmdline (takes the target's mmap_lock for read) and
//! /proc/TARGET/status; the runner computes the worst accesses that
//! overlapped the operation.

use crate::procs::{fork_child, reap, reap_rep};
use crate::shared::{Sample, Shared, SharedPtr, FAULT_CAP, READ_CAP};
use crate::sys::{
    errno_str, map_anon, mem_available_mib, no_thp, now_ns, page, sleep_us, touch, wait_flag, THP,
};
use mmstall_stall_judge::judge::{self, Interval, Rep};
use mmstall_stall_judge::ktap::Verdict;
use mmstall_stall_judge::thresholds::TestConfig;
use mmstall_stall_judge::TestReport;
use std::ptr;
use std::sync::atomic::Ordering;
use std::time::Duration;

const FAULT_REGION: usize = 64 << 20;

// ---------------------------------------------------------------- reader

fn reader_main(sh: &Shared, target: libc::pid_t) -> i32 {
    let open = |what: &str| {
        let p = std::ffi::CString::new(format!("/proc/{target}/{what}")).expect("no NUL");
        unsafe { libc::open(p.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) }
    };
    let fds = [open("cmdline"), open("status")];
    if fds.iter().any(|&fd| fd < 0) {
        sh.set_error(&format!(
            "reader: cannot open /proc/{target}/cmdline or status: {}",
            errno_str()
        ));
        return 2;
    }
    let mut buf = vec![0u8; 8192];
    let h = sh.hdr();
    let mut ready = false;
    while h.stop.load(Ordering::Acquire) == 0 {
        for (kind, &fd) in fds.iter().enumerate() {
            let t0 = now_ns();
            let n = unsafe { libc::pread(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
            let t1 = now_ns();
            if n < 0 {
                // The target is gone (it only exits after `stop`): nothing more to read.
                return 0;
            }
            if h.armed.load(Ordering::Acquire) != 0 {
                sh.push_read(Sample {
                    start: t0,
                    end: t1,
                    kind: kind as u64,
                });
            }
        }
        if !ready {
            ready = true;
            h.reader_ready.store(1, Ordering::Release);
        }
        sleep_us(100);
    }
    0
}

// ---------------------------------------------------------------- target

fn faulter(sp: SharedPtr) {
    let sh = sp.shared();
    let h = sh.hdr();
    let Ok(mut region) = map_anon(FAULT_REGION, 0) else {
        return;
    };
    let _ = no_thp(region, FAULT_REGION);
    let pg = page();
    let mut i = 0;
    while h.stop.load(Ordering::Acquire) == 0 {
        if h.armed.load(Ordering::Acquire) == 0 {
            sleep_us(1000);
            continue;
        }
        let t0 = now_ns();
        unsafe { ptr::write_volatile(region.add(i * pg), 1) };
        let t1 = now_ns();
        sh.push_fault(Sample {
            start: t0,
            end: t1,
            kind: 0,
        });
        i += 1;
        if i * pg >= FAULT_REGION {
            // Start over on fresh memory (munmap + mmap: madvise(2) may be
            // compiled out); timed like a fault.
            let t0 = now_ns();
            unsafe { libc::munmap(region as *mut libc::c_void, FAULT_REGION) };
            let fresh = map_anon(FAULT_REGION, 0);
            sh.push_fault(Sample {
                start: t0,
                end: now_ns(),
                kind: 1,
            });
            match fresh {
                Ok(p) => region = p,
                Err(_) => return,
            }
            let _ = no_thp(region, FAULT_REGION);
            i = 0;
        }
        sleep_us(500);
    }
    unsafe { libc::munmap(region as *mut libc::c_void, FAULT_REGION) };
}

enum Prepared {
    Mapped(*mut u8),
    Brk,
    Nothing,
}

fn prepare(variant: &str, size: usize) -> Result<Prepared, String> {
    match variant {
        "munmap" | "mremap-shrink" => {
            let p = map_anon(size, 0)?;
            no_thp(p, size)?;
            touch(p, size);
            Ok(Prepared::Mapped(p))
        }
        "brk-shrink" => {
            let old = unsafe { libc::sbrk(size as libc::intptr_t) };
            if old as isize == -1 {
                return Err(format!("sbrk(+{} MiB): {}", size >> 20, errno_str()));
            }
            let pg = page();
            let start = ((old as usize) + pg - 1) & !(pg - 1);
            let p = start as *mut u8;
            let len = (old as usize + size - start) & !(pg - 1);
            no_thp(p, len)?;
            touch(p, len);
            Ok(Prepared::Brk)
        }
        "mlock" => {
            let p = map_anon(size, 0)?;
            no_thp(p, size)?;
            Ok(Prepared::Mapped(p))
        }
        "mmap-populate-locked" => Ok(Prepared::Nothing),
        other => Err(format!("unknown variant {other}")),
    }
}

/// Runs the operation; returns what must be unmapped afterwards (outside the window).
fn operate(
    variant: &str,
    prep: &Prepared,
    size: usize,
) -> Result<Option<(*mut u8, usize)>, String> {
    let pg = page();
    match (variant, prep) {
        ("munmap", Prepared::Mapped(p)) => {
            if unsafe { libc::munmap(*p as *mut libc::c_void, size) } != 0 {
                return Err(format!("munmap: {}", errno_str()));
            }
            Ok(None)
        }
        ("mremap-shrink", Prepared::Mapped(p)) => {
            let r = unsafe { libc::mremap(*p as *mut libc::c_void, size, pg, 0) };
            if r == libc::MAP_FAILED {
                return Err(format!("mremap shrink: {}", errno_str()));
            }
            Ok(Some((*p, pg)))
        }
        ("brk-shrink", Prepared::Brk) => {
            let r = unsafe { libc::sbrk(-(size as libc::intptr_t)) };
            if r as isize == -1 {
                return Err(format!("sbrk(-{} MiB): {}", size >> 20, errno_str()));
            }
            Ok(None)
        }
        ("mlock", Prepared::Mapped(p)) => {
            if unsafe { libc::mlock(*p as *const libc::c_void, size) } != 0 {
                return Err(format!("mlock {} MiB: {}", size >> 20, errno_str()));
            }
            Ok(Some((*p, size)))
        }
        ("mmap-populate-locked", Prepared::Nothing) => {
            let p = map_anon(size, libc::MAP_POPULATE | libc::MAP_LOCKED)?;
            Ok(Some((p, size)))
        }
        _ => Err(format!("variant {variant}: inconsistent preparation")),
    }
}

fn target_main(sh: &Shared, variant: &str, size: usize) -> i32 {
    let h = sh.hdr();
    if !wait_flag(&h.reader_ready, Duration::from_secs(60)) {
        sh.set_error("target: the reader did not start within 60 s");
        return 2;
    }
    // The faulting thread first: nothing allocates between a brk grow and its shrink.
    let sp = sh.ptr();
    let th = std::thread::spawn(move || faulter(sp));
    let result = (|| -> Result<(), String> {
        let prep = prepare(variant, size)?;
        h.armed.store(1, Ordering::Release);
        sleep_us(20_000);
        h.op_start.store(now_ns(), Ordering::Release);
        let cleanup = operate(variant, &prep, size);
        h.op_end.store(now_ns(), Ordering::Release);
        // Let a read blocked until the end finish and be recorded.
        sleep_us(20_000);
        h.stop.store(1, Ordering::Release);
        if let Some((p, len)) = cleanup? {
            unsafe {
                libc::munlock(p as *const libc::c_void, len);
                libc::munmap(p as *mut libc::c_void, len);
            }
        }
        Ok(())
    })();
    h.stop.store(1, Ordering::Release);
    let _ = th.join();
    sh.exit_code(result)
}

fn run_rep(variant: &str, size: usize, rep: u32) -> Rep {
    let mut r = Rep {
        rep,
        op_ms: 0.0,
        cmdline_reads: 0,
        cmdline_worst_ms: 0.0,
        status_reads: 0,
        status_worst_ms: 0.0,
        faults: 0,
        fault_worst_ms: 0.0,
        error: None,
        ..Default::default()
    };
    let sh = match Shared::new() {
        Ok(s) => s,
        Err(e) => {
            r.error = Some(e);
            return r;
        }
    };
    let v = variant.to_string();
    let target = match fork_child(|| target_main(&sh, &v, size)) {
        Ok(p) => p,
        Err(e) => {
            r.error = Some(e);
            return r;
        }
    };
    let reader = match fork_child(|| reader_main(&sh, target)) {
        Ok(p) => p,
        Err(e) => {
            unsafe { libc::kill(target, libc::SIGKILL) };
            let _ = reap(&[target], Duration::from_secs(10));
            r.error = Some(e);
            return r;
        }
    };
    if let Err(e) = reap_rep(&[target, reader], &sh) {
        r.error = Some(e);
        return r;
    }
    let h = sh.hdr();
    let w = Interval {
        start: h.op_start.load(Ordering::Acquire),
        end: h.op_end.load(Ordering::Acquire),
    };
    if w.start == 0 || w.end < w.start {
        r.error = Some("the operation did not run".into());
        return r;
    }
    r.op_ms = w.len() as f64 / 1e6;
    let nr = (h.n_reads.load(Ordering::Acquire) as usize).min(READ_CAP);
    let nf = (h.n_faults.load(Ordering::Acquire) as usize).min(FAULT_CAP);
    let reads = unsafe { std::slice::from_raw_parts(sh.reads(), nr) };
    let faults = unsafe { std::slice::from_raw_parts(sh.faults(), nf) };
    let of_kind = |k: u64| {
        reads
            .iter()
            .filter(move |s| s.kind == k)
            .map(|s| Interval {
                start: s.start,
                end: s.end,
            })
            .collect::<Vec<_>>()
    };
    let ms = |i: Option<Interval>| i.map(|i| i.len() as f64 / 1e6).unwrap_or(0.0);
    let (n, worst) = judge::worst_overlapping(&of_kind(0), &w);
    r.cmdline_reads = n;
    r.cmdline_worst_ms = ms(worst);
    let (n, worst) = judge::worst_overlapping(&of_kind(1), &w);
    r.status_reads = n;
    r.status_worst_ms = ms(worst);
    let f: Vec<Interval> = faults
        .iter()
        .map(|s| Interval {
            start: s.start,
            end: s.end,
        })
        .collect();
    let (n, worst) = judge::worst_overlapping(&f, &w);
    r.faults = n;
    r.fault_worst_ms = ms(worst);
    r
}

pub fn run_test(t: &TestConfig, repeat: Option<u32>, thp_ok: bool) -> TestReport {
    let mut judging = t.judging.clone();
    if let Some(n) = repeat {
        judging.repeat = n.max(1);
        judging.min_valid = judging.min_valid.min(judging.repeat);
    }
    let size = (t.size_mib as usize) << 20;
    let mut variants = Vec::new();
    // Precondition: room for the region (plus the faulting thread's) in RAM.
    let need_mib = t.size_mib + (FAULT_REGION >> 20) as u64 + 64;
    let short = mem_available_mib().filter(|&m| m < need_mib);
    for v in &t.variants {
        let skip = if let Some(have) = short {
            Some(format!(
                "needs about {need_mib} MiB of available memory, the guest has {have} MiB (boot with more memory, e.g. --memory 2G)"
            ))
        } else if !thp_ok {
            Some(format!("transparent huge pages could not be turned off ({THP}); {v} would not be measured with 4 KiB pages"))
        } else {
            None
        };
        if let Some(why) = skip {
            variants.push(judge::VariantResult {
                variant: v.clone(),
                verdict: Verdict::Skip(why.clone()),
                reps: vec![],
                ratio: None,
                summary: why,
                numbers: Default::default(),
            });
            continue;
        }
        let mut reps = Vec::new();
        for i in 1..=judging.repeat {
            let r = run_rep(v, size, i);
            eprintln!("# {} {}: {}", t.name, v, r.describe());
            reps.push(r);
            if judge::decided_early(&reps, &judging) {
                break;
            }
        }
        variants.push(judge::judge_variant(v, reps, &judging));
    }
    let verdict = judge::judge_test(&variants);
    TestReport {
        name: t.name.clone(),
        verdict,
        variants,
        duration_s: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // These run on the host kernel: they check the measuring machinery
    // (fork, shared samples), not a verdict.

    #[test]
    fn a_small_repetition_measures_reader_and_operation() {
        for variant in ["munmap", "mremap-shrink"] {
            let r = run_rep(variant, 8 << 20, 1);
            assert!(r.error.is_none(), "{variant}: {:?}", r.error);
            assert!(r.op_ms > 0.0, "{r:?}");
            // On a fast host an 8 MiB operation can fall between two reads;
            // when a read overlapped it, the ratio is computed.
            assert_eq!(r.ratio().is_some(), r.reads() > 0, "{r:?}");
        }
    }

    #[test]
    fn unknown_variant_is_an_error_with_its_name() {
        let r = run_rep("bogus", 1 << 20, 1);
        assert!(
            r.error.as_deref().is_some_and(|e| e.contains("bogus")),
            "{:?}",
            r.error
        );
    }
}
