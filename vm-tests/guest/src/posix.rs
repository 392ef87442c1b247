//! `mlock-posix-atomicity`: mlock(), munlock() and mlockall() calls that
//! must fail must also change nothing (POSIX); each case runs in a child
//! process (some drop privileges) and /proc/self/smaps shows what changed.

use crate::procs::child_output;
use crate::smaps::{locked_summary, vmas_in};
use crate::sys::{errno_str, map_anon, page, touch};
use mmstall_stall_judge::judge;
use mmstall_stall_judge::ktap::Verdict;
use mmstall_stall_judge::thresholds::TestConfig;
use mmstall_stall_judge::TestReport;
use std::time::Duration;

#[derive(Debug)]
enum Atomicity {
    /// The call failed and changed nothing.
    Atomic(String),
    /// The call failed and changed part of the range (the deviation).
    Partial(String),
    /// The call succeeded where it must fail.
    Unexpected(String),
}

/// Three pages, touched, with page `hole` unmapped (None: a fourth page past
/// the end is unmapped instead).
fn three_pages_with_hole(hole: usize) -> Result<*mut u8, String> {
    let pg = page();
    let p = map_anon(4 * pg, 0)?;
    touch(p, 4 * pg);
    for i in [hole, 3] {
        if unsafe { libc::munmap(p.add(i * pg) as *mut libc::c_void, pg) } != 0 {
            return Err(format!("munmap page {i}: {}", errno_str()));
        }
    }
    Ok(p)
}

/// Runs one case (in the child process [`posix_variant`] forks).
fn posix_case(case: &str) -> Result<Atomicity, String> {
    match case {
        "mlock-hole" | "mlock-past-end" => mlock_over_hole(case),
        "munlock-hole" => munlock_over_hole(),
        "mlock-rlimit" => mlock_over_rlimit(),
        // mlockall(MCL_CURRENT | MCL_FUTURE) over RLIMIT_MEMLOCK without
        // CAP_IPC_LOCK: must fail, lock no VMA, and not lock later mappings.
        "mlockall-rlimit" => {
            limit_memlock_and_drop_privileges(page())?;
            mlockall_case(
                libc::MCL_CURRENT | libc::MCL_FUTURE,
                "mlockall(MCL_CURRENT|MCL_FUTURE) over a 2-page RLIMIT_MEMLOCK",
            )
        }
        // MCL_ONFAULT alone is invalid: EINVAL, nothing locked now or later.
        "mlockall-bad-flags" => mlockall_case(libc::MCL_ONFAULT, "mlockall(MCL_ONFAULT)"),
        other => Err(format!("unknown case {other}")),
    }
}

/// RLIMIT_MEMLOCK of two pages, then uid/gid 65534 (no CAP_IPC_LOCK).
fn limit_memlock_and_drop_privileges(pg: usize) -> Result<(), String> {
    let lim = libc::rlimit {
        rlim_cur: (2 * pg) as libc::rlim_t,
        rlim_max: (2 * pg) as libc::rlim_t,
    };
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) } != 0 {
        return Err(format!("setrlimit(RLIMIT_MEMLOCK): {}", errno_str()));
    }
    if unsafe { libc::setgid(65534) } != 0 || unsafe { libc::setuid(65534) } != 0 {
        return Err(format!(
            "dropping privileges (setuid 65534): {}",
            errno_str()
        ));
    }
    Ok(())
}

/// mlock() over [p0, p1 unmapped, p2) (`mlock-hole`) or over a range running
/// past the mapping (`mlock-past-end`): must fail with ENOMEM and lock nothing.
fn mlock_over_hole(case: &str) -> Result<Atomicity, String> {
    let pg = page();
    let (p, len, what) = if case == "mlock-hole" {
        (
            three_pages_with_hole(1)?,
            3 * pg,
            "3 pages with page 2 unmapped",
        )
    } else {
        // pages 0 and 1 mapped, page 2 (and 3) not: the range runs past the mapping.
        (
            three_pages_with_hole(2)?,
            3 * pg,
            "3 pages of which the last is unmapped",
        )
    };
    let a = p as usize;
    let r = unsafe { libc::mlock(p as *const libc::c_void, len) };
    let err = errno_str();
    let v = vmas_in(a, a + len)?;
    let (n, kb) = locked_summary(&v);
    unsafe { libc::munlock(p as *const libc::c_void, 2 * pg) };
    if r == 0 {
        return Ok(Atomicity::Unexpected(format!("mlock({what}) returned 0")));
    }
    if n > 0 {
        Ok(Atomicity::Partial(format!(
            "mlock({what}) failed ({err}) but left {n} of {} VMA(s) locked (Locked: {kb} kB)",
            v.len()
        )))
    } else {
        Ok(Atomicity::Atomic(format!(
            "mlock({what}) failed ({err}) and locked none of {} VMA(s)",
            v.len()
        )))
    }
}

/// munlock() over two locked pages around a hole: must fail and unlock nothing.
fn munlock_over_hole() -> Result<Atomicity, String> {
    let pg = page();
    let p = three_pages_with_hole(1)?;
    let a = p as usize;
    for i in [0, 2] {
        if unsafe { libc::mlock(p.add(i * pg) as *const libc::c_void, pg) } != 0 {
            return Err(format!("mlock page {}: {}", i + 1, errno_str()));
        }
    }
    let r = unsafe { libc::munlock(p as *const libc::c_void, 3 * pg) };
    let err = errno_str();
    let v = vmas_in(a, a + 3 * pg)?;
    let (n, _) = locked_summary(&v);
    for i in [0, 2] {
        unsafe { libc::munlock(p.add(i * pg) as *const libc::c_void, pg) };
    }
    if r == 0 {
        return Ok(Atomicity::Unexpected(
            "munlock(3 pages with page 2 unmapped) returned 0".into(),
        ));
    }
    if n < v.len() {
        Ok(Atomicity::Partial(format!(
            "munlock(3 pages with page 2 unmapped) failed ({err}) but unlocked {} of {} VMA(s)",
            v.len() - n,
            v.len()
        )))
    } else {
        Ok(Atomicity::Atomic(format!(
            "munlock(3 pages with page 2 unmapped) failed ({err}) and left all {} VMA(s) locked",
            v.len()
        )))
    }
}

/// Over RLIMIT_MEMLOCK without CAP_IPC_LOCK (as uid 65534): ENOMEM/EPERM,
/// nothing locked.
fn mlock_over_rlimit() -> Result<Atomicity, String> {
    let pg = page();
    limit_memlock_and_drop_privileges(pg)?;
    let p = map_anon(4 * pg, 0)?;
    touch(p, 4 * pg);
    let a = p as usize;
    let r = unsafe { libc::mlock(p as *const libc::c_void, 4 * pg) };
    let err = errno_str();
    let v = vmas_in(a, a + 4 * pg)?;
    let (n, kb) = locked_summary(&v);
    if r == 0 {
        return Ok(Atomicity::Unexpected(
            "mlock(4 pages) over a 2-page RLIMIT_MEMLOCK returned 0".into(),
        ));
    }
    if n > 0 {
        Ok(Atomicity::Partial(format!(
            "mlock(4 pages) over a 2-page RLIMIT_MEMLOCK failed ({err}) but locked {kb} kB"
        )))
    } else {
        Ok(Atomicity::Atomic(format!(
            "mlock(4 pages) over a 2-page RLIMIT_MEMLOCK failed ({err}) and locked nothing"
        )))
    }
}

/// Calls mlockall(flags), which must fail; then checks that no VMA of the
/// process is locked and that a new mapping is not locked (MCL_FUTURE not
/// applied).
fn mlockall_case(flags: libc::c_int, what: &str) -> Result<Atomicity, String> {
    let pg = page();
    let p = map_anon(4 * pg, 0)?;
    touch(p, 4 * pg);
    let r = unsafe { libc::mlockall(flags) };
    let err = errno_str();
    let all = vmas_in(0, usize::MAX)?;
    let (n, kb) = locked_summary(&all);
    let later = map_anon(pg, 0)?;
    touch(later, pg);
    let (later_locked, _) = locked_summary(&vmas_in(later as usize, later as usize + pg)?);
    unsafe { libc::munlockall() };
    if r == 0 {
        return Ok(Atomicity::Unexpected(format!("{what} returned 0")));
    }
    if n > 0 || later_locked > 0 {
        Ok(Atomicity::Partial(format!(
            "{what} failed ({err}) but left {n} of {} VMA(s) locked (Locked: {kb} kB){}",
            all.len(),
            if later_locked > 0 {
                " and locked a later mapping (MCL_FUTURE applied)"
            } else {
                ""
            }
        )))
    } else {
        Ok(Atomicity::Atomic(format!(
            "{what} failed ({err}), locked none of {} VMA(s) and not a later mapping",
            all.len()
        )))
    }
}

/// Runs a case in a child process (it may drop privileges); the verdict
/// comes back through a pipe.
fn posix_variant(case: &str) -> judge::VariantResult {
    let c = case.to_string();
    let output = child_output(
        move || match posix_case(&c) {
            Ok(Atomicity::Atomic(s)) => format!("A {s}"),
            Ok(Atomicity::Partial(s)) => format!("P {s}"),
            Ok(Atomicity::Unexpected(s)) => format!("U {s}"),
            Err(e) => format!("E {e}"),
        },
        Duration::from_secs(60),
    );
    let res: Result<Atomicity, String> = output.and_then(|s| match s.split_at_checked(2) {
        Some(("A ", d)) => Ok(Atomicity::Atomic(d.into())),
        Some(("P ", d)) => Ok(Atomicity::Partial(d.into())),
        Some(("U ", d)) => Ok(Atomicity::Unexpected(d.into())),
        Some(("E ", d)) => Err(d.into()),
        _ => Err(format!("the {case} child died without a result")),
    });
    let (verdict, summary) = match res {
        Ok(Atomicity::Atomic(d)) => (Verdict::Pass, d),
        Ok(Atomicity::Partial(d)) => (Verdict::Xfail(d.clone()), d),
        Ok(Atomicity::Unexpected(d)) => (Verdict::Fail, d),
        Err(e) if e.contains("dropping privileges") => (Verdict::Skip(e.clone()), e),
        Err(e) => (Verdict::Error(e.clone()), e),
    };
    judge::VariantResult {
        variant: case.to_string(),
        verdict,
        reps: vec![],
        ratio: None,
        summary: format!("{case}: {summary}"),
        numbers: Default::default(),
    }
}

pub fn run_posix(t: &TestConfig) -> TestReport {
    let variants: Vec<judge::VariantResult> = t.variants.iter().map(|c| posix_variant(c)).collect();
    for v in &variants {
        eprintln!("# {} {}", t.name, v.summary);
    }
    let deviations: Vec<&str> = variants
        .iter()
        .filter_map(|v| matches!(v.verdict, Verdict::Xfail(_)).then_some(v.summary.as_str()))
        .collect();
    let verdict = if let Some(v) = variants
        .iter()
        .find(|v| matches!(v.verdict, Verdict::Fail | Verdict::Error(_)))
    {
        match &v.verdict {
            Verdict::Error(e) => Verdict::Error(e.clone()),
            _ => Verdict::Fail,
        }
    } else if !deviations.is_empty() {
        Verdict::Xfail(format!(
            "Linux changes part of the range on failure: {}",
            deviations.join("; ")
        ))
    } else if variants.iter().any(|v| v.verdict == Verdict::Pass) {
        Verdict::Pass
    } else {
        judge::judge_test(&variants)
    };
    TestReport {
        name: t.name.clone(),
        verdict,
        variants,
        duration_s: None,
    }
}
