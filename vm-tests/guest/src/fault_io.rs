//! `fault-io-stall`: a page fault that waits for a slow disk read while
//! holding mmap_lock stalls every writer of the address space.
//!
//! A block device whose every read waits `delay_ms` (dm-delay over a loop
//! device over a file on a private tmpfs) is mapped and faulted cold, one
//! page every 4 MiB (beyond the readahead window, so each fault is one slow
//! read), by one thread, while another thread of the same process loops
//! `mmap()` + `munmap()` of one anonymous page (mmap_lock for write). Since
//! 2010 (retry the fault after dropping the lock) and 2019 (drop it for the
//! readahead too), `filemap_fault()` releases the lock before it waits for
//! the read, and with per-VMA locks (6.4) the fault does not take mmap_lock
//! at all. Historical failure: the writer waits for the whole read.
//!
//!   ratio = worst writer call overlapping the faults / median cold fault

use crate::devices::{allocated_file, DelayDev, LoopDev, Setup, Tmpfs};
use crate::procs::{fork_child, reap_rep};
use crate::report::every_variant;
use crate::shared::{Sample, Shared, SharedPtr, FAULT_CAP, READ_CAP};
use crate::sys::{errno_str, now_ns, sleep_us, wait_flag};
use mmstall_stall_judge::judge::{self, Interval, Rep};
use mmstall_stall_judge::ktap::Verdict;
use mmstall_stall_judge::thresholds::TestConfig;
use mmstall_stall_judge::TestReport;
use std::ffi::CString;
use std::path::Path;
use std::ptr;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Distance between two faulted pages: well past the read-around window
/// (128 KiB by default), so every fault is its own read.
const STRIDE: usize = 4 << 20;
/// Writer samples go to the shared read area with this kind.
const WRITER: u64 = 2;
const BLKFLSBUF: libc::c_ulong = 0x1261;

/// The slow device, for the whole test (every repetition maps it afresh).
struct SlowDevice {
    // Dropped in reverse: dm device, loop device, tmpfs.
    delay: DelayDev,
    lo: LoopDev,
    _tmp: Tmpfs,
    bytes: usize,
}

fn slow_device(size_mib: u64, delay_ms: u64) -> Result<SlowDevice, Setup> {
    let bytes = size_mib << 20;
    let tmp = Tmpfs::mount("fault-io", size_mib + 8)?;
    let backing = allocated_file(&tmp.dir.join("disk"), bytes)?;
    let lo = LoopDev::attach(&backing, &tmp.dir)?;
    let name = format!("mmstall-slow-{}", std::process::id());
    let delay = DelayDev::create(&name, &lo.dev, bytes, delay_ms, &tmp.dir)?;
    Ok(SlowDevice {
        delay,
        lo,
        _tmp: tmp,
        bytes: bytes as usize,
    })
}

/// The writer thread: mmap()+munmap() of one page in a loop, each timed.
fn writer(sp: SharedPtr) {
    let sh = sp.shared();
    let h = sh.hdr();
    h.reader_ready.store(1, Ordering::Release);
    while h.stop.load(Ordering::Acquire) == 0 {
        let t0 = now_ns();
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p != libc::MAP_FAILED {
            unsafe { libc::munmap(p, 4096) };
        }
        sh.push_read(Sample {
            start: t0,
            end: now_ns(),
            kind: WRITER,
        });
        sleep_us(1000);
    }
}

/// The target process of one repetition: maps the device, starts the
/// writer, faults the pages cold.
fn target(sh: &Shared, dev: &Path, bytes: usize) -> i32 {
    let result = (|| -> Result<(), String> {
        let c = CString::new(dev.as_os_str().as_encoded_bytes())
            .map_err(|_| "device path has a NUL".to_string())?;
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(format!("open {}: {}", dev.display(), errno_str()));
        }
        // Cold cache: drop the device's pages (previous repetitions read them).
        unsafe {
            libc::ioctl(fd, BLKFLSBUF, 0);
            libc::posix_fadvise(fd, 0, 0, libc::POSIX_FADV_DONTNEED);
        }
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                bytes,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        unsafe { libc::close(fd) };
        if p == libc::MAP_FAILED {
            return Err(format!(
                "mmap of {} ({} MiB): {}",
                dev.display(),
                bytes >> 20,
                errno_str()
            ));
        }
        let base = p as *const u8;
        let sp = sh.ptr();
        let th = std::thread::spawn(move || writer(sp));
        let h = sh.hdr();
        if !wait_flag(&h.reader_ready, Duration::from_secs(30)) {
            h.stop.store(1, Ordering::Release);
            let _ = th.join();
            return Err("the writer thread did not start within 30 s".into());
        }
        sleep_us(20_000);
        h.op_start.store(now_ns(), Ordering::Release);
        for off in (0..bytes).step_by(STRIDE) {
            let t0 = now_ns();
            unsafe { ptr::read_volatile(base.add(off)) };
            sh.push_fault(Sample {
                start: t0,
                end: now_ns(),
                kind: 0,
            });
        }
        h.op_end.store(now_ns(), Ordering::Release);
        // A writer call blocked until the last fault ends is recorded too.
        sleep_us(20_000);
        h.stop.store(1, Ordering::Release);
        let _ = th.join();
        unsafe { libc::munmap(p, bytes) };
        Ok(())
    })();
    sh.exit_code(result)
}

/// One repetition in a fresh process.
fn run_rep(dev: &Path, bytes: usize, rep: u32) -> Rep {
    let mut r = Rep {
        rep,
        ..Default::default()
    };
    let sh = match Shared::new() {
        Ok(s) => s,
        Err(e) => {
            r.error = Some(e);
            return r;
        }
    };
    let pid = match fork_child(|| target(&sh, dev, bytes)) {
        Ok(p) => p,
        Err(e) => {
            r.error = Some(e);
            return r;
        }
    };
    if let Err(e) = reap_rep(&[pid], &sh) {
        r.error = Some(e);
        return r;
    }
    let h = sh.hdr();
    let window = Interval {
        start: h.op_start.load(Ordering::Acquire),
        end: h.op_end.load(Ordering::Acquire),
    };
    let nf = (h.n_faults.load(Ordering::Acquire) as usize).min(FAULT_CAP);
    let nr = (h.n_reads.load(Ordering::Acquire) as usize).min(READ_CAP);
    let faults = unsafe { std::slice::from_raw_parts(sh.faults(), nf) };
    let calls = unsafe { std::slice::from_raw_parts(sh.reads(), nr) };
    measure(&mut r, window, faults, calls);
    r
}

/// Fills a repetition from the samples: the operation is one cold fault
/// (median duration), the other user is the writer.
fn measure(r: &mut Rep, window: Interval, faults: &[Sample], calls: &[Sample]) {
    if window.start == 0 || window.end < window.start || faults.is_empty() {
        r.error = Some("the faults did not run".into());
        return;
    }
    let durations: Vec<f64> = faults
        .iter()
        .map(|s| (s.end - s.start) as f64 / 1e6)
        .collect();
    let spread = judge::spread(&durations).expect("faults is not empty");
    r.op_ms = spread.median;
    r.faults = faults.len() as u64;
    r.fault_worst_ms = spread.max;
    let writer: Vec<Interval> = calls
        .iter()
        .filter(|s| s.kind == WRITER)
        .map(|s| Interval {
            start: s.start,
            end: s.end,
        })
        .collect();
    let (n, worst) = judge::worst_overlapping(&writer, &window);
    r.writer_calls = n;
    r.writer_worst_ms = worst.map(|i| i.len() as f64 / 1e6).unwrap_or(0.0);
}

pub fn run(t: &TestConfig, repeat: Option<u32>) -> TestReport {
    let mut judging = t.judging.clone();
    if let Some(n) = repeat {
        judging.repeat = n.max(1);
        judging.min_valid = judging.min_valid.min(judging.repeat);
    }
    let delay_ms = t.param("delay_ms", 100);
    let dev = match slow_device(t.size_mib, delay_ms) {
        Ok(d) => d,
        Err(Setup::Missing(why)) => return every_variant(t, Verdict::Skip(why.clone()), &why),
        Err(Setup::Failed(why)) => {
            let why = format!("setting up the slow device: {why}");
            return every_variant(t, Verdict::Error(why.clone()), &why);
        }
    };
    eprintln!(
        "# {}: {} ({} MiB, dm-delay {} ms per read) over {}",
        t.name,
        dev.delay.dev.display(),
        dev.bytes >> 20,
        delay_ms,
        dev.lo.dev.display()
    );
    let mut variants = Vec::new();
    for v in &t.variants {
        let mut reps = Vec::new();
        for i in 1..=judging.repeat {
            let r = run_rep(&dev.delay.dev, dev.bytes, i);
            eprintln!("# {} {v}: {}", t.name, r.describe());
            reps.push(r);
            if judge::decided_early(&reps, &judging) {
                break;
            }
        }
        let mut res = judge::judge_variant(v, reps, &judging);
        res.numbers.insert("delay_ms".into(), delay_ms as f64);
        variants.push(res);
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

    fn s(start: u64, end: u64, kind: u64) -> Sample {
        Sample { start, end, kind }
    }

    #[test]
    fn the_ratio_is_worst_overlapping_writer_over_median_fault() {
        let ms = 1_000_000;
        // Three 100 ms faults; the writer waited 90 ms during the second,
        // and 500 ms outside the window (does not count).
        let t = 1000 * ms;
        let faults = [
            s(t, t + 100 * ms, 0),
            s(t + 100 * ms, t + 200 * ms, 0),
            s(t + 200 * ms, t + 300 * ms, 0),
        ];
        let calls = [
            s(t + 110 * ms, t + 200 * ms, WRITER),
            s(t + 400 * ms, t + 900 * ms, WRITER),
            s(t + 50 * ms, t + 51 * ms, 0),
        ];
        let mut r = Rep {
            rep: 1,
            ..Default::default()
        };
        measure(
            &mut r,
            Interval {
                start: t,
                end: t + 300 * ms,
            },
            &faults,
            &calls,
        );
        assert_eq!(r.faults, 3);
        assert_eq!(r.writer_calls, 1, "only writer samples in the window count");
        assert!((r.op_ms - 100.0).abs() < 1e-9);
        assert!((r.ratio().unwrap() - 0.9).abs() < 1e-9, "{r:?}");
        assert!(
            r.describe().contains("cold fault median 100.0 ms"),
            "{}",
            r.describe()
        );
    }

    #[test]
    fn no_fault_is_an_error_not_a_pass() {
        let mut r = Rep::default();
        measure(&mut r, Interval { start: 1, end: 2 }, &[], &[]);
        assert!(r.error.is_some());
        assert_eq!(r.ratio(), None);
    }
}
