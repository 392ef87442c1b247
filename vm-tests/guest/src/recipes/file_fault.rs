//! `shared-write-fault`: write faults on a shared file mapping of a real
//! filesystem, the path of the `do_page_mkwrite` / `wp_page_shared` /
//! `filemap_page_mkwrite` / `folio_wait_stable` findings.
//!
//! ext2 (its mappings use `filemap_page_mkwrite()`) on a dm-delay device
//! (every bio waits [`DELAY_MS`], so writeback is slow enough to be waited
//! for) over a loop device over a file on a private tmpfs.

use super::{failed, fill_file, madvise, map_shared_raw, sys_err, RecipeError};
use crate::devices::{allocated_file, mkfs_ext2, DelayDev, FsMount, LoopDev, Tmpfs};
use crate::sys::page;
use std::os::fd::AsRawFd;
use std::ptr;

/// dm-delay's delay of every read and write (ms).
const DELAY_MS: u64 = 20;

const MADV_POPULATE_WRITE: libc::c_int = 23;

/// The file (sparse) is mapped shared and read through the mapping (clean
/// pages are mapped read-only: the filesystem wants to hear of the first
/// write). Then all but the last
/// sixteenth is written by touching it (write-protect faults:
/// `wp_page_shared()` → `do_page_mkwrite()` → `filemap_page_mkwrite()`,
/// under the per-VMA lock when it is free); the last sixteenth is dirtied
/// with pwrite(2), its writeback started (sync_file_range, not waited
/// for), and it is written through `MADV_POPULATE_WRITE` (get_user_pages
/// under the mmap read lock) while the writeback is in flight:
/// `filemap_page_mkwrite()` waits in `folio_wait_stable()` where the device
/// wants stable pages. Only a sixteenth: each page of it drops and retakes
/// the lock (`fault_dirty_shared_page()` balances dirty pages), two traced
/// events with stacks per page, and the trace must stay readable in time.
pub fn shared_write_fault(size: usize) -> Result<(), RecipeError> {
    let mib = (size >> 20) as u64;
    // The image: the file plus ext2's metadata and room to spare.
    let image_bytes = (mib + mib / 4 + 32) << 20;
    let tmp = Tmpfs::mount("confirm-ext2", (image_bytes >> 20) + 4)?;
    let image = allocated_file(&tmp.dir.join("ext2.img"), image_bytes)?;
    let lo = LoopDev::attach(&image, &tmp.dir)?;
    mkfs_ext2(&lo.dev)?;
    let name = format!("mmstall-confirm-{}", std::process::id());
    let slow = DelayDev::create(&name, &lo.dev, image_bytes, DELAY_MS, &tmp.dir)?;
    let fs = FsMount::mount(&slow.dev, &tmp.dir.join("mnt"), "ext2")?;
    let result = write_faults(&fs, size);
    drop(fs);
    drop(slow);
    drop(lo);
    result
}

fn write_faults(fs: &FsMount, size: usize) -> Result<(), RecipeError> {
    let path = fs.dir.join("data");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| failed(format!("creating {}: {e}", path.display())))?;
    let fd = file.as_raw_fd();
    let what = path.display().to_string();
    let write_range = |from: usize, to: usize| fill_file(fd, from, to, &what);
    // Sparse: reading a hole through the mapping gives a clean zeroed page
    // (mapped read-only like any clean page), with no I/O to wait for.
    file.set_len(size as u64).map_err(|e| {
        failed(format!(
            "truncating {} to {} MiB: {e}",
            path.display(),
            size >> 20
        ))
    })?;
    let p = map_shared_raw(fd, size);
    if p.is_null() {
        return Err(sys_err("mmap MAP_SHARED of the ext2 file", false));
    }
    let pg = page();
    // Where the part written during writeback starts.
    let half = (size - size / 16) & !(pg - 1);
    let mut sum = 0u32;
    let mut o = 0;
    while o < size {
        sum = sum.wrapping_add(unsafe { ptr::read_volatile(p.add(o)) } as u32);
        o += pg;
    }
    std::hint::black_box(sum);
    let mut o = 0;
    while o < half {
        unsafe { ptr::write_volatile(p.add(o), 1) };
        o += pg;
    }
    let result = write_under_writeback(fd, p, half, size, &write_range);
    unsafe { libc::munmap(p as *mut libc::c_void, size) };
    // The dirty pages are dropped, not written back at the unmount.
    if let Err(e) = file.set_len(0) {
        eprintln!("mmstall-guest confirm: truncating {}: {e}", path.display());
    }
    result
}

fn write_under_writeback(
    fd: libc::c_int,
    p: *mut u8,
    half: usize,
    size: usize,
    write_range: &dyn Fn(usize, usize) -> Result<(), RecipeError>,
) -> Result<(), RecipeError> {
    write_range(half, size)?;
    let r = unsafe {
        libc::sync_file_range(
            fd,
            half as libc::off64_t,
            (size - half) as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        )
    };
    if r != 0 {
        return Err(sys_err("sync_file_range(SYNC_FILE_RANGE_WRITE)", false));
    }
    madvise(
        unsafe { p.add(half) },
        size - half,
        MADV_POPULATE_WRITE,
        "madvise(MADV_POPULATE_WRITE) of the shared file mapping",
    )
}
