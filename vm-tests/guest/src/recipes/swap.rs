//! Recipes that need swap: `swapoff` (`unuse_mm()` holds each mm's read
//! lock while it swaps the mm's pages back in) and `shmem-swapin-fault`
//! (`shmem_fault()` → `shmem_swapin_folio()` under the fault's read lock).
//!
//! Swap is a loop device over a file on a private tmpfs
//! ([`SwapArea`]); the workload's memory goes out to it because it is
//! written inside a memory cgroup limited to a quarter of it: the limit,
//! not a hint, decides, and the area's line in /proc/swaps checks that it
//! did (the area has the highest priority: an area left on by a workload
//! killed before its cleanup takes nothing).

use super::{failed, fill_file, madvise, map_shared_raw, sys_err, RecipeError};
use crate::devices::{MemCgroup, SwapArea};
use crate::sys::{map_anon, no_thp, page, touch};
use std::ptr;

/// Swap for `size` bytes of workload memory, with room to spare (MiB).
fn swap_mib(size: usize) -> u64 {
    let mib = (size >> 20) as u64;
    mib + mib / 2 + 16
}

/// memory.max while the workload's memory is written: a quarter of it,
/// at least 4 MiB, so most of it goes to swap.
fn limit(size: usize) -> u64 {
    (size as u64 / 4).max(4 << 20)
}

/// At least half of `size` must have gone to the recipe's swap area, or
/// the recipe measures something else. The area's use (KiB).
fn check_swapped(area: &SwapArea, size: usize, what: &str) -> Result<u64, RecipeError> {
    let used = area.on.used_kib().unwrap_or(0);
    if used < (size as u64 / 2) >> 10 {
        return Err(failed(format!(
            "{what}: only {used} KiB of {} MiB went to swap ({}) under memory.max {} MiB",
            size >> 20,
            area.on.dev.display(),
            limit(size) >> 20
        )));
    }
    Ok(used)
}

/// Lifts the limit and leaves the cgroup (so swapping back in has room).
fn release(cg: &MemCgroup) -> Result<(), RecipeError> {
    cg.write("memory.max", "max")?;
    cg.leave()?;
    Ok(())
}

/// Anonymous memory pushed to swap, then swapoff(2): `try_to_unuse()`
/// calls `unuse_mm()` on each mm with swap entries, which holds its read
/// lock across the swap-in of every page of the mm.
pub fn swapoff(size: usize) -> Result<(), RecipeError> {
    let area = SwapArea::on_tmpfs("confirm-swapoff", swap_mib(size))?;
    let cg = MemCgroup::create("confirm-swapoff", limit(size))?;
    cg.enter()?;
    let p = map_anon(size, 0).map_err(failed)?;
    no_thp(p, size).map_err(failed)?;
    touch(p, size);
    let used = check_swapped(&area, size, "anonymous memory");
    release(&cg)?;
    used?;
    area.on.disable()?;
    if let Some(left) = area.on.used_kib() {
        return Err(failed(format!(
            "{} still listed in /proc/swaps after swapoff ({left} KiB used)",
            area.on.dev.display()
        )));
    }
    Ok(())
}

/// A shmem file (memfd) of `size` written with write(2) inside the limited
/// cgroup (most of it goes to swap), then mapped shared and faulted back
/// in, still inside the cgroup with room for half of it (so swap-ins
/// reclaim, without an OOM kill): the first
/// half by touching it (page faults, per-VMA lock first), the second by
/// `MADV_POPULATE_READ` (get_user_pages under the mmap read lock: the
/// path of the `shmem_fault` findings).
pub fn shmem_swapin_fault(size: usize) -> Result<(), RecipeError> {
    let area = SwapArea::on_tmpfs("confirm-shmem", swap_mib(size))?;
    let cg = MemCgroup::create("confirm-shmem", limit(size))?;
    cg.enter()?;
    let result = shmem_swapin_in_cgroup(&area, &cg, size);
    release(&cg)?;
    // The memfd is closed and unmapped: the area's swapoff (on drop) finds
    // nothing of it.
    drop(area);
    result
}

fn shmem_swapin_in_cgroup(area: &SwapArea, cg: &MemCgroup, size: usize) -> Result<(), RecipeError> {
    let fd = unsafe { libc::memfd_create(c"mmstall-confirm-shmem".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(sys_err("memfd_create", false));
    }
    if let Err(e) = fill_file(fd, 0, size, "the memfd") {
        unsafe { libc::close(fd) };
        return Err(e);
    }
    let checked = check_swapped(area, size, "shmem");
    let p = map_shared_raw(fd, size);
    unsafe { libc::close(fd) };
    checked?;
    if p.is_null() {
        return Err(sys_err("mmap MAP_SHARED memfd", false));
    }
    // Faulting back in, half of it fits: a swap-in's charge still reclaims
    // (the memory cgroup's reclaim under the fault), but swap readahead
    // charging a cluster at a time does not drive the cgroup out of memory
    // (measured: OOM-killed at a quarter).
    cg.write("memory.max", &(size as u64 / 2 + (16 << 20)).to_string())?;
    let half = (size / 2) & !(page() - 1);
    let mut sum = 0u32;
    let mut o = 0;
    while o < half {
        sum = sum.wrapping_add(unsafe { ptr::read_volatile(p.add(o)) } as u32);
        o += page();
    }
    std::hint::black_box(sum);
    let populated = madvise(
        unsafe { p.add(half) },
        size - half,
        MADV_POPULATE_READ,
        "madvise(MADV_POPULATE_READ)",
    );
    unsafe { libc::munmap(p as *mut libc::c_void, size) };
    populated
}

const MADV_POPULATE_READ: libc::c_int = 22;
