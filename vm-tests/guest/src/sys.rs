//! Thin wrappers over the system calls and /proc and /sys files the tests
//! use: errors, clocks, sleeping, pages, anonymous mappings, THP, memory.

use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const THP: &str = "/sys/kernel/mm/transparent_hugepage/enabled";

/// The last OS error as text.
pub fn errno_str() -> String {
    std::io::Error::last_os_error().to_string()
}

/// CLOCK_MONOTONIC in nanoseconds.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// nanosleep(2), without allocating (safe between fork and exit).
pub fn sleep_us(us: u64) {
    let ts = libc::timespec {
        tv_sec: (us / 1_000_000) as libc::time_t,
        tv_nsec: ((us % 1_000_000) * 1000) as libc::c_long,
    };
    unsafe { libc::nanosleep(&ts, ptr::null_mut()) };
}

/// The page size.
pub fn page() -> usize {
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// Waits (polling every millisecond) until `f` is set; false on timeout.
pub fn wait_flag(f: &AtomicU32, timeout: Duration) -> bool {
    let t = Instant::now();
    while f.load(Ordering::Acquire) == 0 {
        if t.elapsed() > timeout {
            return false;
        }
        sleep_us(1000);
    }
    true
}

/// A private anonymous mapping (`extra`: more MAP_ flags).
pub fn map_anon(len: usize, extra: i32) -> Result<*mut u8, String> {
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

/// madvise(MADV_NOHUGEPAGE), tolerating kernels without THP or madvise(2).
pub fn no_thp(p: *mut u8, len: usize) -> Result<(), String> {
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

/// Writes one byte per page (faults every page in).
pub fn touch(p: *mut u8, len: usize) {
    let pg = page();
    let mut off = 0;
    while off < len {
        unsafe { ptr::write_volatile(p.add(off), 1) };
        off += pg;
    }
}

/// Sets THP to `never` so 4 KiB pages make zaps and populations long.
/// Returns (description, whether THP is off now).
pub fn thp_off() -> (String, bool) {
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
pub fn mem_available_mib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}
