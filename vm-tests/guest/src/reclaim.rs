//! `mlock-reclaim`: mlocked pages under memory pressure stay resident and
//! are accounted as mlocked and unevictable, while other threads contend on
//! the mmap lock.
//!
//! A child process in a memory cgroup (cgroup v2, `memory.max`) mlocks
//! `size_mib` of memory (variant `anon`: private anonymous; `shmem`: shared
//! anonymous, i.e. shmem file pages), then a hog in the same cgroup touches
//! `pressure_mib` twice, with swap on (a loop device over a preallocated
//! tmpfs file), while two threads contend on mmap_lock (mmap/mprotect/munmap,
//! mlock/munlock of a small region). Afterwards:
//!
//! - swap-out happened (`pswpout` grew), else the pressure did not reach
//!   reclaim and the variant is SKIP;
//! - none of the locked region is swapped (`Swap:` of its VMAs is 0) and all
//!   of it is resident (`Rss:`);
//! - every locked page was accounted: `Mlocked` and `Unevictable` of
//!   /proc/meminfo and `unevictable_pgs_mlocked` of /proc/vmstat grew by the
//!   region's size (a 256-page allowance for per-CPU batches and other mlockers);
//! - the kernel log has no new `Bad page state`.
//!
//! Historical failure: pages of a VM_LOCKED VMA not marked mlocked (the
//! mlock marking skipped in the rmap code, which since 2022 is where file and
//! shmem pages faulted into a locked VMA are marked): they stay on the
//! evictable LRU, uncounted, and reclaim relies on luck.

use crate::devices::{kernel_log, read_counters, MemCgroup, Setup, SwapArea};
use crate::procs::child_output;
use crate::report::every_variant;
use crate::smaps::vmas_in;
use crate::sys::{errno_str, map_anon, no_thp, page, sleep_us, touch};
use mmstall_stall_judge::judge::VariantResult;
use mmstall_stall_judge::ktap::Verdict;
use mmstall_stall_judge::thresholds::TestConfig;
use mmstall_stall_judge::TestReport;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Pages that may still sit in per-CPU mlock/LRU batches when counters are read.
const BATCH_ALLOWANCE_PAGES: u64 = 256;
const BAD_PAGE: &str = "Bad page state";

/// What a variant measured (kB unless named otherwise).
type Numbers = BTreeMap<String, f64>;

fn delta(after: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>, key: &str) -> f64 {
    after.get(key).copied().unwrap_or(0) as f64 - before.get(key).copied().unwrap_or(0) as f64
}

/// Rss/Swap/Locked (kB) summed over this process's VMAs intersecting [a, b).
fn region_smaps(a: usize, b: usize) -> Result<(u64, u64, u64), String> {
    let v = vmas_in(a, b)?;
    Ok((
        v.iter().map(|x| x.rss_kb).sum(),
        v.iter().map(|x| x.swap_kb).sum(),
        v.iter().map(|x| x.locked_kb).sum(),
    ))
}

/// Threads that take mmap_lock for write in a loop until told to stop.
struct Contenders {
    stop: Arc<AtomicBool>,
    ops: Arc<AtomicU64>,
    /// Pages the mlock/munlock contender locked (they add to unevictable_pgs_mlocked).
    mlocked_pages: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Contenders {
    fn start() -> Contenders {
        let stop = Arc::new(AtomicBool::new(false));
        let ops = Arc::new(AtomicU64::new(0));
        let mlocked_pages = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::new();
        for kind in 0..2 {
            let (stop, ops, mlocked) = (stop.clone(), ops.clone(), mlocked_pages.clone());
            threads.push(std::thread::spawn(move || {
                let len = 16 * page();
                while !stop.load(Ordering::Acquire) {
                    if let Ok(p) = map_anon(len, 0) {
                        let a = p as *mut libc::c_void;
                        unsafe {
                            if kind == 0 {
                                libc::mprotect(a, len, libc::PROT_READ);
                            } else {
                                // mlock/munlock of another region: the mlock
                                // paths run next to reclaim of the locked one.
                                if libc::mlock(a, len) == 0 {
                                    mlocked.fetch_add(16, Ordering::Relaxed);
                                }
                                libc::munlock(a, len);
                            }
                            libc::munmap(a, len);
                        }
                        ops.fetch_add(1, Ordering::Relaxed);
                    }
                    sleep_us(200);
                }
            }));
        }
        Contenders {
            stop,
            ops,
            mlocked_pages,
            threads,
        }
    }

    /// Stops the threads: (operations, pages they mlocked).
    fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Release);
        for t in self.threads {
            let _ = t.join();
        }
        (
            self.ops.load(Ordering::Relaxed),
            self.mlocked_pages.load(Ordering::Relaxed),
        )
    }
}

/// The child's scenario. Returns the numbers and the failed checks (empty:
/// pass), or a setup error.
///
/// Steps: map and mlock the region under contention ([`map_region`], under [`Contenders`]),
/// put the cgroup under pressure ([`pressure_peak_swap_kb`]), read the
/// counters back ([`Readings`]) into numbers and checks.
fn scenario(
    variant: &str,
    size: usize,
    pressure: usize,
) -> Result<(Numbers, Vec<String>, Option<String>), String> {
    let log_before = kernel_log()
        .map(|l| l.matches(BAD_PAGE).count())
        .unwrap_or(0);
    let mem0 = read_counters("/proc/meminfo");
    let vm0 = read_counters("/proc/vmstat");
    let p = map_region(variant, size)?;
    no_thp(p, size)?;
    let contenders = Contenders::start();
    if unsafe { libc::mlock(p as *const libc::c_void, size) } != 0 {
        let e = errno_str();
        let _ = contenders.stop();
        return Err(format!("mlock {} MiB ({variant}): {e}", size >> 20));
    }
    // Write to every page (shmem pages get content worth keeping).
    touch(p, size);
    let mem_locked = read_counters("/proc/meminfo");
    let swap_peak_kb = pressure_peak_swap_kb(pressure, &mem0)?;
    let (ops, contender_mlocked_pages) = contenders.stop();
    let mem1 = read_counters("/proc/meminfo");
    let vm1 = read_counters("/proc/vmstat");
    let (rss, swap, locked) = region_smaps(p as usize, p as usize + size)?;
    let log_after = kernel_log();
    unsafe { libc::munlock(p as *const libc::c_void, size) };
    unsafe { libc::munmap(p as *mut libc::c_void, size) };

    let r = Readings {
        size,
        mem0,
        mem_locked,
        mem1,
        vm0,
        vm1,
        rss,
        swap,
        locked,
        swap_peak_kb,
        ops,
        contender_mlocked_pages,
    };
    let n = r.numbers();
    if n["pswpout_delta"] <= 0.0 && swap_peak_kb == 0 {
        let why = format!(
            "no page was swapped out (pswpout +0, swap use stayed 0): the pressure ({} MiB) did not reach reclaim",
            pressure >> 20
        );
        return Ok((n, vec![], Some(why)));
    }
    let mut failed = r.failed_checks(&n);
    match log_after {
        Ok(l) if l.matches(BAD_PAGE).count() > log_before => {
            let line = l
                .lines()
                .find(|x| x.contains(BAD_PAGE))
                .unwrap_or(BAD_PAGE)
                .trim()
                .to_string();
            failed.push(format!("the kernel log has a new `{BAD_PAGE}`: {line}"));
        }
        Ok(_) => {}
        Err(e) => failed.push(format!("the kernel log could not be read: {e}")),
    }
    Ok((n, failed, None))
}

/// The region to lock: private anonymous (`anon`) or shared (`shmem`).
fn map_region(variant: &str, size: usize) -> Result<*mut u8, String> {
    let flags = match variant {
        "anon" => 0,
        "shmem" => libc::MAP_SHARED,
        other => return Err(format!("unknown variant {other}")),
    };
    if flags == 0 {
        return map_anon(size, 0);
    }
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(format!("mmap shared {} MiB: {}", size >> 20, errno_str()));
    }
    Ok(p as *mut u8)
}

/// Pressure: a hog touches more than the cgroup may hold, twice (the second
/// pass swaps the first one's pages back in and out again). Returns the peak
/// swap use over `mem0`'s (kB).
fn pressure_peak_swap_kb(pressure: usize, mem0: &BTreeMap<String, u64>) -> Result<u64, String> {
    let swap_used = |m: &BTreeMap<String, u64>| {
        m.get("SwapTotal")
            .copied()
            .unwrap_or(0)
            .saturating_sub(m.get("SwapFree").copied().unwrap_or(0))
    };
    let mut swap_peak_kb = 0;
    for _ in 0..2 {
        let h = map_anon(pressure, 0)?;
        let _ = no_thp(h, pressure);
        touch(h, pressure);
        swap_peak_kb = swap_peak_kb
            .max(swap_used(&read_counters("/proc/meminfo")).saturating_sub(swap_used(mem0)));
        unsafe { libc::munmap(h as *mut libc::c_void, pressure) };
    }
    Ok(swap_peak_kb)
}

/// What the scenario read: /proc/meminfo before, after mlock and after the
/// pressure, /proc/vmstat before and after, the region's smaps, the swap
/// peak and the contenders' counts.
struct Readings {
    size: usize,
    mem0: BTreeMap<String, u64>,
    mem_locked: BTreeMap<String, u64>,
    mem1: BTreeMap<String, u64>,
    vm0: BTreeMap<String, u64>,
    vm1: BTreeMap<String, u64>,
    rss: u64,
    swap: u64,
    locked: u64,
    swap_peak_kb: u64,
    ops: u64,
    contender_mlocked_pages: u64,
}

impl Readings {
    /// The numbers the report shows.
    fn numbers(&self) -> Numbers {
        let (mem0, mem1, vm0, vm1) = (&self.mem0, &self.mem1, &self.vm0, &self.vm1);
        let size_kb = (self.size >> 10) as f64;
        let mut n = Numbers::new();
        n.insert("locked_region_kb".into(), size_kb);
        n.insert("region_rss_kb".into(), self.rss as f64);
        n.insert("region_swap_kb".into(), self.swap as f64);
        n.insert("region_locked_kb".into(), self.locked as f64);
        n.insert("mlocked_delta_kb".into(), delta(mem1, mem0, "Mlocked"));
        n.insert(
            "mlocked_after_mlock_delta_kb".into(),
            delta(&self.mem_locked, mem0, "Mlocked"),
        );
        n.insert(
            "unevictable_delta_kb".into(),
            delta(mem1, mem0, "Unevictable"),
        );
        // The contender's own mlock()s count in unevictable_pgs_mlocked too.
        n.insert(
            "unevictable_pgs_mlocked_delta".into(),
            delta(vm1, vm0, "unevictable_pgs_mlocked") - self.contender_mlocked_pages as f64,
        );
        n.insert(
            "contender_mlocked_pages".into(),
            self.contender_mlocked_pages as f64,
        );
        n.insert(
            "unevictable_pgs_culled_delta".into(),
            delta(vm1, vm0, "unevictable_pgs_culled"),
        );
        n.insert(
            "unevictable_pgs_rescued_delta".into(),
            delta(vm1, vm0, "unevictable_pgs_rescued"),
        );
        n.insert(
            "unevictable_pgs_munlocked_delta".into(),
            delta(vm1, vm0, "unevictable_pgs_munlocked"),
        );
        n.insert("pswpout_delta".into(), delta(vm1, vm0, "pswpout"));
        n.insert("pswpin_delta".into(), delta(vm1, vm0, "pswpin"));
        n.insert("swap_used_peak_kb".into(), self.swap_peak_kb as f64);
        n.insert("contender_ops".into(), self.ops as f64);
        n
    }

    /// The checks of a locked region under reclaim that failed (the kernel
    /// log is checked by the caller).
    fn failed_checks(&self, n: &Numbers) -> Vec<String> {
        let (rss, swap) = (self.rss, self.swap);
        let size_kb = (self.size >> 10) as f64;
        let pages = (self.size / page()) as f64;
        let allowance_kb = (BATCH_ALLOWANCE_PAGES * (page() as u64 >> 10)) as f64;
        // Event counters exist only with CONFIG_VM_EVENT_COUNTERS.
        let events = self.vm1.contains_key("unevictable_pgs_mlocked");
        let mut failed = Vec::new();
        if swap > 0 {
            failed.push(format!("{swap} kB of the mlocked region was swapped out"));
        }
        if (rss as f64) < size_kb {
            failed.push(format!(
                "only {rss} of {size_kb} kB of the mlocked region is resident"
            ));
        }
        for (key, what) in [
            ("mlocked_delta_kb", "Mlocked"),
            ("unevictable_delta_kb", "Unevictable"),
        ] {
            if n[key] + allowance_kb < size_kb {
                failed.push(format!(
                    "{what} grew by {} kB for {size_kb} kB locked",
                    n[key]
                ));
            }
        }
        if !events {
            failed.push(
                "/proc/vmstat has no unevictable_pgs_* counters (CONFIG_VM_EVENT_COUNTERS is off)"
                    .into(),
            );
        } else if n["unevictable_pgs_mlocked_delta"] + (BATCH_ALLOWANCE_PAGES as f64) < pages {
            failed.push(format!(
                "unevictable_pgs_mlocked grew by {} for {pages} pages locked",
                n["unevictable_pgs_mlocked_delta"]
            ));
        }
        failed
    }
}

/// Result line from the child: JSON of (numbers, failed checks, skip reason) or an error.
#[derive(serde::Serialize, serde::Deserialize)]
enum ChildResult {
    Measured {
        numbers: Numbers,
        failed: Vec<String>,
        skip: Option<String>,
    },
    Error(String),
}

fn run_variant(cg: &MemCgroup, variant: &str, size: usize, pressure: usize) -> VariantResult {
    let v = variant.to_string();
    let output = child_output(
        move || {
            let res = match cg.enter() {
                Err(e) => {
                    ChildResult::Error(format!("entering {}: {}", cg.dir.display(), e.text()))
                }
                Ok(()) => match scenario(&v, size, pressure) {
                    Ok((numbers, failed, skip)) => ChildResult::Measured {
                        numbers,
                        failed,
                        skip,
                    },
                    Err(e) => ChildResult::Error(e),
                },
            };
            serde_json::to_string(&res).unwrap_or_default()
        },
        Duration::from_secs(900),
    );
    let outcome: Result<ChildResult, String> = output.and_then(|s: String| {
        serde_json::from_str(&s).map_err(|_| {
            let events = cg
                .read("memory.events")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            format!("the {variant} child died without a result (cgroup memory.events: {events})")
        })
    });
    let (verdict, summary, numbers) = match outcome {
        Err(e) | Ok(ChildResult::Error(e)) => (Verdict::Error(e.clone()), e, Numbers::new()),
        Ok(ChildResult::Measured {
            numbers,
            skip: Some(why),
            ..
        }) => (Verdict::Skip(why.clone()), why, numbers),
        Ok(ChildResult::Measured {
            numbers,
            failed,
            skip: None,
        }) => {
            let facts = format!(
                "{} kB locked: Mlocked +{} kB, Unevictable +{} kB, unevictable_pgs_mlocked +{} (besides the contender's), region swap {} kB, rss {} kB; swap used up to {} kB, pswpout +{}, {} contender ops",
                numbers["locked_region_kb"],
                numbers["mlocked_delta_kb"],
                numbers["unevictable_delta_kb"],
                numbers["unevictable_pgs_mlocked_delta"],
                numbers["region_swap_kb"],
                numbers["region_rss_kb"],
                numbers["swap_used_peak_kb"],
                numbers["pswpout_delta"],
                numbers["contender_ops"]
            );
            if failed.is_empty() {
                (Verdict::Pass, facts, numbers)
            } else {
                (
                    Verdict::Fail,
                    format!("{}; {facts}", failed.join("; ")),
                    numbers,
                )
            }
        }
    };
    VariantResult {
        variant: variant.to_string(),
        verdict,
        reps: vec![],
        ratio: None,
        summary: format!("{variant}: {summary}"),
        numbers,
    }
}

pub fn run(t: &TestConfig) -> TestReport {
    let size = (t.size_mib as usize) << 20;
    let max = t.param("memory_max_mib", 64);
    let pressure = (t.param("pressure_mib", 112) as usize) << 20;
    let setup = SwapArea::on_tmpfs("swap", t.param("swap_mib", 256))
        .and_then(|s| MemCgroup::create("reclaim", max << 20).map(|c| (s, c)));
    let (sw, cg) = match setup {
        Ok(x) => x,
        Err(Setup::Missing(why)) => return every_variant(t, Verdict::Skip(why.clone()), &why),
        Err(Setup::Failed(why)) => {
            let why = format!("setting up swap and the memory cgroup: {why}");
            return every_variant(t, Verdict::Error(why.clone()), &why);
        }
    };
    eprintln!(
        "# {}: swap on {}, cgroup {} (memory.max {max} MiB)",
        t.name,
        sw.on.dev.display(),
        cg.dir.display()
    );
    let variants: Vec<VariantResult> = t
        .variants
        .iter()
        .map(|v| {
            let r = run_variant(&cg, v, size, pressure);
            eprintln!("# {} {}", t.name, r.summary);
            r
        })
        .collect();
    drop(cg);
    drop(sw);
    let verdict = mmstall_stall_judge::judge::judge_test(&variants);
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

    #[test]
    fn smaps_of_a_locked_region_on_the_host() {
        // Measuring machinery only (the host kernel): a touched mapping is
        // resident and not swapped.
        let len = 8 * page();
        let p = map_anon(len, 0).unwrap();
        touch(p, len);
        let (rss, swap, _) = region_smaps(p as usize, p as usize + len).unwrap();
        // A neighbouring mapping of another test thread may merge with it:
        // at least the region is resident.
        assert!(rss >= (len >> 10) as u64, "rss {rss} kB");
        assert_eq!(swap, 0);
        unsafe { libc::munmap(p as *mut libc::c_void, len) };
    }

    #[test]
    fn child_results_round_trip() {
        let mut n = Numbers::new();
        n.insert("pswpout_delta".into(), 3.0);
        let s = serde_json::to_string(&ChildResult::Measured {
            numbers: n,
            failed: vec!["x".into()],
            skip: None,
        })
        .unwrap();
        match serde_json::from_str::<ChildResult>(&s).unwrap() {
            ChildResult::Measured {
                numbers, failed, ..
            } => {
                assert_eq!(numbers["pswpout_delta"], 3.0);
                assert_eq!(failed, ["x"]);
            }
            ChildResult::Error(e) => panic!("{e}"),
        }
    }
}
