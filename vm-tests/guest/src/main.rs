//! mmstall-guest: the stall tests, run inside the booted kernel (virtme-ng
//! shares the host filesystem, so the host-built binary runs as is).
//!
//!     mmstall-guest suite [--thresholds FILE] [--json FILE] [--tests a,b] [--repeat N]
//!     mmstall-guest list
//!
//! KTAP v1 on stdout (progress on stderr); exit 0 when no test failed.
//!
//! Every repetition forks two processes from the (single-threaded) runner:
//! the *target*, which prepares memory, starts a thread that keeps faulting
//! other memory, and runs the operation (munmap, mlock, ...); and the
//! *reader*, which reads /proc/TARGET/cmdline (takes the target's mmap_lock
//! for read) and /proc/TARGET/status in a loop. Both record every access with
//! CLOCK_MONOTONIC into a shared anonymous mapping; the runner computes the
//! worst accesses that overlapped the operation.

mod devices;
mod fault_io;
mod reclaim;

use mmstall_vm::stall::judge::{self, Interval, Rep};
use mmstall_vm::stall::ktap::{self, TestResult, Verdict};
use mmstall_vm::stall::thresholds::{TestConfig, Thresholds};
use mmstall_vm::stall::{GuestReport, TestReport};
use std::io::Write;
use std::path::PathBuf;
use std::ptr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const READ_CAP: usize = 1 << 20;
const FAULT_CAP: usize = 1 << 18;
const FAULT_REGION: usize = 64 << 20;
const THP: &str = "/sys/kernel/mm/transparent_hugepage/enabled";

#[repr(C)]
struct Header {
    stop: AtomicU32,
    armed: AtomicU32,
    reader_ready: AtomicU32,
    error_len: AtomicU32,
    op_start: AtomicU64,
    op_end: AtomicU64,
    n_reads: AtomicU64,
    n_faults: AtomicU64,
    error: [u8; 1024],
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Sample {
    start: u64,
    end: u64,
    kind: u64,
}

/// The shared mapping: header, read samples, fault samples.
struct Shared {
    base: *mut u8,
    len: usize,
}

impl Shared {
    fn new() -> Result<Shared, String> {
        let len = std::mem::size_of::<Header>()
            + READ_CAP * std::mem::size_of::<Sample>()
            + FAULT_CAP * std::mem::size_of::<Sample>();
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(format!(
                "mmap of the shared sample area ({len} bytes): {}",
                errno_str()
            ));
        }
        Ok(Shared {
            base: p as *mut u8,
            len,
        })
    }
    fn hdr(&self) -> &Header {
        unsafe { &*(self.base as *const Header) }
    }
    fn reads(&self) -> *mut Sample {
        unsafe { self.base.add(std::mem::size_of::<Header>()) as *mut Sample }
    }
    fn faults(&self) -> *mut Sample {
        unsafe { self.reads().add(READ_CAP) }
    }
    fn push_read(&self, s: Sample) {
        let i = self.hdr().n_reads.load(Ordering::Relaxed) as usize;
        if i < READ_CAP {
            unsafe { self.reads().add(i).write(s) };
            self.hdr().n_reads.store(i as u64 + 1, Ordering::Release);
        }
    }
    fn push_fault(&self, s: Sample) {
        let i = self.hdr().n_faults.load(Ordering::Relaxed) as usize;
        if i < FAULT_CAP {
            unsafe { self.faults().add(i).write(s) };
            self.hdr().n_faults.store(i as u64 + 1, Ordering::Release);
        }
    }
    fn set_error(&self, msg: &str) {
        let h = self.base as *mut Header;
        let b = msg.as_bytes();
        let n = b.len().min(1024);
        unsafe { ptr::copy_nonoverlapping(b.as_ptr(), (*h).error.as_mut_ptr(), n) };
        self.hdr().error_len.store(n as u32, Ordering::Release);
    }
    fn error(&self) -> Option<String> {
        let n = self.hdr().error_len.load(Ordering::Acquire) as usize;
        (n > 0).then(|| String::from_utf8_lossy(&self.hdr().error[..n.min(1024)]).into_owned())
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        unsafe { libc::munmap(self.base as *mut libc::c_void, self.len) };
    }
}

// The faulting thread needs the pointer; the mapping outlives the thread.
#[derive(Clone, Copy)]
struct SharedPtr(*mut u8, usize);
unsafe impl Send for SharedPtr {}

fn errno_str() -> String {
    std::io::Error::last_os_error().to_string()
}

fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn sleep_us(us: u64) {
    let ts = libc::timespec {
        tv_sec: (us / 1_000_000) as libc::time_t,
        tv_nsec: ((us % 1_000_000) * 1000) as libc::c_long,
    };
    unsafe { libc::nanosleep(&ts, ptr::null_mut()) };
}

fn page() -> usize {
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

fn wait_flag(f: &AtomicU32, timeout: Duration) -> bool {
    let t = Instant::now();
    while f.load(Ordering::Acquire) == 0 {
        if t.elapsed() > timeout {
            return false;
        }
        sleep_us(1000);
    }
    true
}

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

fn map_anon(len: usize, extra: i32) -> Result<*mut u8, String> {
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | extra,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        Err(format!("mmap {} MiB: {}", len >> 20, errno_str()))
    } else {
        Ok(p as *mut u8)
    }
}

fn no_thp(p: *mut u8, len: usize) -> Result<(), String> {
    if unsafe { libc::madvise(p as *mut libc::c_void, len, libc::MADV_NOHUGEPAGE) } != 0 {
        // EINVAL: a kernel without THP; ENOSYS: without madvise(2)
        // (CONFIG_ADVISE_SYSCALLS=n): the sysfs switch set by the suite is
        // then what keeps pages at 4 KiB.
        let e = std::io::Error::last_os_error().raw_os_error();
        if e != Some(libc::EINVAL) && e != Some(libc::ENOSYS) {
            return Err(format!("madvise(MADV_NOHUGEPAGE): {}", errno_str()));
        }
    }
    Ok(())
}

fn touch(p: *mut u8, len: usize) {
    let pg = page();
    let mut off = 0;
    while off < len {
        unsafe { ptr::write_volatile(p.add(off), 1) };
        off += pg;
    }
}

fn faulter(sp: SharedPtr) {
    let sh = std::mem::ManuallyDrop::new(Shared {
        base: sp.0,
        len: sp.1,
    });
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
    let sp = SharedPtr(sh.base, sh.len);
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
    match result {
        Ok(()) => 0,
        Err(e) => {
            sh.set_error(&e);
            2
        }
    }
}

// ---------------------------------------------------------------- POSIX atomicity

/// One VMA of /proc/self/smaps: its range, `VmFlags: lo`, and the
/// `Locked:`, `Rss:` and `Swap:` sizes (kB).
#[derive(Debug, Clone, Copy, Default)]
struct SmapsVma {
    start: usize,
    end: usize,
    locked: bool,
    locked_kb: u64,
    rss_kb: u64,
    swap_kb: u64,
}

/// VMAs of this process intersecting [a, b).
fn vmas_in(a: usize, b: usize) -> Result<Vec<SmapsVma>, String> {
    let text = std::fs::read_to_string("/proc/self/smaps")
        .map_err(|e| format!("/proc/self/smaps: {e}"))?;
    let mut out: Vec<SmapsVma> = Vec::new();
    let mut cur: Option<SmapsVma> = None;
    let kb = |v: &str| v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
    for l in text.lines() {
        let first = l.split_whitespace().next().unwrap_or("");
        if let Some((s, e)) = first.split_once('-') {
            if let (Ok(start), Ok(end)) =
                (usize::from_str_radix(s, 16), usize::from_str_radix(e, 16))
            {
                cur = Some(SmapsVma {
                    start,
                    end,
                    ..Default::default()
                });
                continue;
            }
        }
        let Some(v) = cur.as_mut() else { continue };
        if let Some(x) = l.strip_prefix("Locked:") {
            v.locked_kb = kb(x);
        } else if let Some(x) = l.strip_prefix("Rss:") {
            v.rss_kb = kb(x);
        } else if let Some(x) = l.strip_prefix("Swap:") {
            v.swap_kb = kb(x);
        } else if let Some(flags) = l.strip_prefix("VmFlags:") {
            // VmFlags is the last line of a VMA's block.
            let mut v = cur.take().expect("current VMA");
            v.locked = flags.split_whitespace().any(|f| f == "lo");
            if v.start < b && v.end > a {
                out.push(v);
            }
        }
    }
    Ok(out)
}

#[derive(Debug)]
enum Atomicity {
    /// The call failed and changed nothing.
    Atomic(String),
    /// The call failed and changed part of the range (the deviation).
    Partial(String),
    /// The call succeeded where it must fail.
    Unexpected(String),
}

fn locked_summary(v: &[SmapsVma]) -> (usize, u64) {
    (
        v.iter().filter(|x| x.locked).count(),
        v.iter().filter(|x| x.locked).map(|x| x.locked_kb).sum(),
    )
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

fn posix_case(case: &str) -> Result<Atomicity, String> {
    let pg = page();
    match case {
        // mlock() over [p0, p1 unmapped, p2): must fail with ENOMEM and lock nothing.
        "mlock-hole" | "mlock-past-end" => {
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
                Ok(Atomicity::Partial(format!("mlock({what}) failed ({err}) but left {n} of {} VMA(s) locked (Locked: {kb} kB)", v.len())))
            } else {
                Ok(Atomicity::Atomic(format!(
                    "mlock({what}) failed ({err}) and locked none of {} VMA(s)",
                    v.len()
                )))
            }
        }
        // munlock() over two locked pages around a hole: must fail and unlock nothing.
        "munlock-hole" => {
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
                Ok(Atomicity::Partial(format!("munlock(3 pages with page 2 unmapped) failed ({err}) but unlocked {} of {} VMA(s)", v.len() - n, v.len())))
            } else {
                Ok(Atomicity::Atomic(format!("munlock(3 pages with page 2 unmapped) failed ({err}) and left all {} VMA(s) locked", v.len())))
            }
        }
        // Over RLIMIT_MEMLOCK without CAP_IPC_LOCK (as uid 65534): ENOMEM/EPERM, nothing locked.
        "mlock-rlimit" => {
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
        // mlockall(MCL_CURRENT | MCL_FUTURE) over RLIMIT_MEMLOCK without
        // CAP_IPC_LOCK: must fail, lock no VMA, and not lock later mappings.
        "mlockall-rlimit" => {
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

fn run_posix(t: &TestConfig) -> TestReport {
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

// ---------------------------------------------------------------- runner

/// A report whose every variant has the same verdict (a test that could not
/// run: SKIP or ERROR with the reason).
fn every_variant(t: &TestConfig, verdict: Verdict, why: &str) -> TestReport {
    let variants = t
        .variants
        .iter()
        .map(|v| judge::VariantResult {
            variant: v.clone(),
            verdict: verdict.clone(),
            reps: vec![],
            ratio: None,
            summary: format!("{v}: {why}"),
            numbers: Default::default(),
        })
        .collect();
    TestReport {
        name: t.name.clone(),
        verdict,
        variants,
        duration_s: None,
    }
}

/// Waits for a repetition's processes, then takes the error one of them
/// recorded in the shared area, if any.
fn reap_rep(pids: &[libc::pid_t], sh: &Shared) -> Result<(), String> {
    reap(pids, Duration::from_secs(600))?;
    sh.error().map_or(Ok(()), Err)
}

/// Runs `f` in a child process (which may drop privileges or join a
/// cgroup) and returns what it wrote, once it exited (or `timeout` passed).
fn child_output(f: impl FnOnce() -> String, timeout: Duration) -> Result<String, String> {
    let mut fds = [0; 2];
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(format!("pipe: {}", errno_str()));
    }
    let child = fork_child(move || {
        unsafe { libc::close(fds[0]) };
        let out = f();
        unsafe { libc::write(fds[1], out.as_ptr() as *const libc::c_void, out.len()) };
        0
    });
    unsafe { libc::close(fds[1]) };
    // Owns the read end from here (closed when dropped).
    let mut from_child = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[0]) };
    let pid = child?;
    let mut out = String::new();
    let _ = std::io::Read::read_to_string(&mut from_child, &mut out);
    let _ = reap(&[pid], timeout);
    Ok(out)
}

fn fork_child(f: impl FnOnce() -> i32) -> Result<libc::pid_t, String> {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", errno_str()));
    }
    if pid == 0 {
        let code = f();
        unsafe { libc::_exit(code) };
    }
    Ok(pid)
}

fn reap(pids: &[libc::pid_t], timeout: Duration) -> Result<(), String> {
    let t = Instant::now();
    let mut left: Vec<libc::pid_t> = pids.to_vec();
    while !left.is_empty() {
        left.retain(|&p| {
            let mut st = 0;
            let r = unsafe { libc::waitpid(p, &mut st, libc::WNOHANG) };
            r == 0
        });
        if left.is_empty() {
            break;
        }
        if t.elapsed() > timeout {
            for &p in &left {
                unsafe { libc::kill(p, libc::SIGKILL) };
                let mut st = 0;
                unsafe { libc::waitpid(p, &mut st, 0) };
            }
            return Err(format!(
                "repetition did not finish within {} s (killed)",
                timeout.as_secs()
            ));
        }
        sleep_us(5000);
    }
    Ok(())
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

/// Sets THP to `never` so 4 KiB pages make zaps and populations long.
/// Returns (description, whether THP is off now).
fn thp_off() -> (String, bool) {
    let Ok(before) = std::fs::read_to_string(THP) else {
        return ("no transparent huge pages in this kernel".into(), true);
    };
    let before = before.trim().to_string();
    if let Err(e) = std::fs::write(THP, "never") {
        return (
            format!("{THP} was `{before}`; writing never failed: {e}"),
            false,
        );
    }
    let after = std::fs::read_to_string(THP)
        .unwrap_or_default()
        .trim()
        .to_string();
    let off = after.contains("[never]");
    (format!("{THP}: `{before}` -> `{after}`"), off)
}

/// MemAvailable from /proc/meminfo, in MiB.
fn mem_available_mib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

fn run_test(t: &TestConfig, repeat: Option<u32>, thp_ok: bool) -> TestReport {
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

fn to_ktap(t: &TestReport, size_mib: u64) -> TestResult {
    let mut r = TestResult::new(&t.name, t.verdict.clone());
    for v in &t.variants {
        let mut s = TestResult::new(&v.variant, v.verdict.clone());
        s.diagnostics = v.reps.iter().map(|r| r.describe()).collect();
        if v.reps.is_empty() && matches!(v.verdict, Verdict::Pass | Verdict::Fail)
            || !v.reps.is_empty()
        {
            s.diagnostics.push(v.summary.clone());
        }
        r.subtests.push(s);
    }
    r.diagnostics.push(format!(
        "{}: {} MiB, {} variant(s)",
        t.name,
        size_mib,
        t.variants.len()
    ));
    r
}

fn usage() -> ! {
    eprintln!("usage: mmstall-guest suite [--thresholds FILE] [--json FILE] [--tests a,b] [--repeat N]\n       mmstall-guest list");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("list") => {
            for t in Thresholds::builtin().tests {
                println!("{}: {}", t.name, t.variants.join(", "));
            }
            return;
        }
        Some("suite") => {}
        _ => usage(),
    }
    let mut thresholds: Option<PathBuf> = None;
    let mut json: Option<PathBuf> = None;
    let mut only: Option<Vec<String>> = None;
    let mut repeat: Option<u32> = None;
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().unwrap_or_else(|| usage());
        match a.as_str() {
            "--thresholds" => thresholds = Some(val().into()),
            "--json" => json = Some(val().into()),
            "--tests" => {
                only = Some(
                    val()
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect(),
                )
            }
            "--repeat" => repeat = Some(val().parse().unwrap_or_else(|_| usage())),
            _ => usage(),
        }
    }
    let th = match &thresholds {
        Some(p) => Thresholds::load(p),
        None => Ok(Thresholds::builtin()),
    };
    let th = match th {
        Ok(t) => t,
        Err(e) => {
            eprintln!("mmstall-guest: {e}");
            std::process::exit(2)
        }
    };
    let tests: Vec<&TestConfig> = th
        .tests
        .iter()
        .filter(|t| only.as_ref().is_none_or(|o| o.contains(&t.name)))
        .collect();
    if let Some(o) = &only {
        for n in o {
            if th.test(n).is_none() {
                eprintln!(
                    "mmstall-guest: --tests: unknown test `{n}` in {}",
                    th.source
                );
                std::process::exit(2)
            }
        }
    }
    let (thp, thp_ok) = thp_off();
    let mut out = std::io::stdout();
    let _ = write!(out, "{}", ktap::header(tests.len()));
    let _ = writeln!(
        out,
        "# mmstall-guest on {}; thresholds: {}; {thp}",
        kernel_release(),
        th.source
    );
    let _ = out.flush();
    let mut reports = Vec::new();
    for (i, t) in tests.iter().enumerate() {
        let started = std::time::Instant::now();
        let mut rep = match t.name.as_str() {
            "mlock-posix-atomicity" => run_posix(t),
            "fault-io-stall" => fault_io::run(t, repeat),
            "mlock-reclaim" => reclaim::run(t),
            _ => run_test(t, repeat, thp_ok),
        };
        rep.duration_s = Some(started.elapsed().as_secs_f64());
        let _ = write!(
            out,
            "{}",
            ktap::write_one(i + 1, &to_ktap(&rep, t.size_mib))
        );
        let _ = out.flush();
        reports.push(rep);
    }
    let failed = reports
        .iter()
        .any(|r| matches!(r.verdict, Verdict::Fail | Verdict::Error(_)));
    let report = GuestReport {
        version: 1,
        kernel_release: kernel_release(),
        thresholds_source: th.source.clone(),
        thp,
        tests: reports,
    };
    if let Some(p) = json {
        let text = serde_json::to_string_pretty(&report).expect("report serializes") + "\n";
        if let Err(e) = std::fs::write(&p, text) {
            eprintln!("mmstall-guest: writing {}: {e}", p.display());
            std::process::exit(3)
        }
    }
    std::process::exit(if failed { 1 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    // These run on the host kernel: they check the measuring machinery
    // (fork, shared samples, smaps parsing), not a verdict.

    #[test]
    fn smaps_sees_a_fresh_mapping_unlocked() {
        let pg = page();
        let p = map_anon(3 * pg, 0).unwrap();
        touch(p, 3 * pg);
        let v = vmas_in(p as usize, p as usize + 3 * pg).unwrap();
        assert!(!v.is_empty());
        assert!(v.iter().all(|x| !x.locked), "{v:?}");
        unsafe { libc::munmap(p as *mut libc::c_void, 3 * pg) };
    }

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
