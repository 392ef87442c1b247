//! The workloads of `mmstall-guest confirm`, keyed by the entry point they
//! drive: each prepares `size` bytes of memory and makes the system call
//! whose mmap_lock hold is measured. Each runs in its own process (a fresh
//! mm; its exit is traced too). The host's catalogue
//! (vm-tests/confirm.toml) says which recipe reaches which holder.
//!
//! A kernel without what a recipe needs (madvise(2), KSM, NUMA, soft-dirty,
//! swap, ext2, dm-delay) makes it [`RecipeError::Unavailable`], never a
//! silent pass. Recipes that set up devices or KSM live in their own
//! files: [`swap`], [`file_fault`], [`ksm`].

mod file_fault;
mod ksm;
mod swap;

use crate::devices::Setup;
use crate::sys::{errno_str, map_anon, no_thp, page, touch};
use std::ptr;

/// Why a recipe did not run to its end.
#[derive(Debug, Clone, PartialEq)]
pub enum RecipeError {
    /// The kernel lacks the system call or feature (the reason names it).
    Unavailable(String),
    Failed(String),
}

impl From<Setup> for RecipeError {
    fn from(s: Setup) -> Self {
        match s {
            Setup::Missing(why) => RecipeError::Unavailable(why),
            Setup::Failed(why) => RecipeError::Failed(why),
        }
    }
}

type Recipe = fn(usize) -> Result<(), RecipeError>;

/// Kernel threads whose holds belong to a recipe's run (traced with it).
pub const KERNEL_THREADS: &[(&str, &[&str])] = &[("ksm-scan", &["ksmd"])];

/// The kernel threads traced with `recipe`.
pub fn kernel_threads(recipe: &str) -> &'static [&'static str] {
    KERNEL_THREADS
        .iter()
        .find(|k| k.0 == recipe)
        .map_or(&[], |k| k.1)
}

/// Every recipe: name, what it does.
pub const RECIPES: &[(&str, &str, Recipe)] = &[
    ("munmap", "munmap() of populated anonymous memory", munmap),
    (
        "mremap-shrink",
        "mremap() shrinking populated memory to one page",
        mremap_shrink,
    ),
    (
        "mremap-move",
        "mremap(MREMAP_MAYMOVE|MREMAP_FIXED) of populated memory",
        mremap_move,
    ),
    ("brk-shrink", "brk() shrinking a populated heap", brk_shrink),
    ("mlock", "mlock() of populated memory", mlock),
    ("mlock-fresh", "mlock() of memory never touched (mlock populates it)", mlock_fresh),
    ("munlock", "munlock() of locked memory", munlock),
    (
        "mlockall",
        "mlockall(MCL_CURRENT) and munlockall() over populated memory",
        mlockall,
    ),
    (
        "mprotect",
        "mprotect(PROT_READ) of populated memory",
        mprotect,
    ),
    (
        "mprotect-locked-writable",
        "mprotect(PROT_READ|PROT_WRITE) of a locked read-only private mapping",
        mprotect_locked_writable,
    ),
    (
        "map-fixed",
        "mmap(MAP_FIXED) over populated memory",
        map_fixed,
    ),
    (
        "remap-file-pages",
        "remap_file_pages() of a populated shared memfd mapping",
        remap_file_pages,
    ),
    ("fork", "fork() of a process with populated memory", fork),
    ("exit", "exit of a process with populated memory", exit),
    ("exec", "execve() of /bin/true by a process with populated memory (ELF loading, the old mm torn down)", exec),
    (
        "uffd-wp-release",
        "close() of a userfaultfd write-protecting populated memory",
        uffd_wp_release,
    ),
    (
        "ksm-prctl-disable",
        "prctl(PR_SET_MEMORY_MERGE, 0) after KSM was enabled for populated memory",
        ksm_prctl_disable,
    ),
    (
        "madvise-unmergeable",
        "madvise(MADV_MERGEABLE) then MADV_UNMERGEABLE of populated memory",
        madvise_unmergeable,
    ),
    (
        "madvise-dontneed",
        "madvise(MADV_DONTNEED) of populated memory",
        madvise_dontneed,
    ),
    (
        "madvise-populate-write",
        "madvise(MADV_POPULATE_WRITE)",
        madvise_populate_write,
    ),
    (
        "mbind-move",
        "mbind(MPOL_BIND, MPOL_MF_MOVE) of populated memory",
        mbind_move,
    ),
    (
        "clear-refs",
        "write 4 (soft-dirty) to /proc/self/clear_refs with populated memory",
        clear_refs,
    ),
    (
        "swapoff",
        "swapoff() of a loop-device swap area holding the workload's anonymous memory (pushed out by a memory cgroup limit)",
        swap::swapoff,
    ),
    (
        "shmem-swapin-fault",
        "shmem (memfd) swapped out under a memory cgroup limit, faulted back in by touching and by MADV_POPULATE_READ",
        swap::shmem_swapin_fault,
    ),
    (
        "shared-write-fault",
        "write faults on a shared mapping of an ext2 file on dm-delay (write-protect faults; MADV_POPULATE_WRITE during writeback)",
        file_fault::shared_write_fault,
    ),
    (
        "ksm-scan",
        "ksmd merging identical MADV_MERGEABLE pages (run=1), then run=2 unmerging them (ksmd traced too)",
        ksm::ksm_scan,
    ),
    (
        "remote-write",
        "write(2) to /proc/PID/mem over another process's populated memory",
        remote_write,
    ),
    (
        "mlockall-future-brk",
        "mlockall(MCL_FUTURE) then brk() growth (brk populates the new heap)",
        mlockall_future_brk,
    ),
];

pub fn find(name: &str) -> Option<Recipe> {
    RECIPES.iter().find(|r| r.0 == name).map(|r| r.2)
}

/// The errno of the last call, and the error a recipe reports for it:
/// ENOSYS (and EINVAL where `einval_is_missing`) mean the kernel lacks it.
fn sys_err(what: &str, einval_is_missing: bool) -> RecipeError {
    let e = std::io::Error::last_os_error();
    let missing = e.raw_os_error() == Some(libc::ENOSYS)
        || (einval_is_missing && e.raw_os_error() == Some(libc::EINVAL));
    let msg = format!("{what}: {e}");
    if missing {
        RecipeError::Unavailable(msg)
    } else {
        RecipeError::Failed(msg)
    }
}

/// Writes a pattern into bytes `from..to` of the file `fd` (`what` names
/// it in the error).
fn fill_file(fd: libc::c_int, from: usize, to: usize, what: &str) -> Result<(), RecipeError> {
    let chunk = vec![0x5au8; 1 << 20];
    let mut off = from;
    while off < to {
        let n = chunk.len().min(to - off);
        let w = unsafe {
            libc::pwrite(
                fd,
                chunk.as_ptr() as *const libc::c_void,
                n,
                off as libc::off_t,
            )
        };
        if w != n as isize {
            return Err(sys_err(&format!("pwrite to {what} at {off}"), false));
        }
        off += n;
    }
    Ok(())
}

/// `mmap(MAP_SHARED, PROT_READ|PROT_WRITE)` of `size` bytes of `fd`; MAP_FAILED
/// as a null pointer (the caller reports it, after closing what it must).
fn map_shared_raw(fd: libc::c_int, size: usize) -> *mut u8 {
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        ptr::null_mut()
    } else {
        p as *mut u8
    }
}

fn failed(msg: String) -> RecipeError {
    RecipeError::Failed(msg)
}

/// `size` bytes of private anonymous memory, 4 KiB pages, every page written.
fn populated(size: usize) -> Result<*mut u8, RecipeError> {
    let p = map_anon(size, 0).map_err(failed)?;
    no_thp(p, size).map_err(failed)?;
    touch(p, size);
    Ok(p)
}

fn check(r: libc::c_int, what: &str) -> Result<(), RecipeError> {
    if r != 0 {
        return Err(sys_err(what, false));
    }
    Ok(())
}

fn munmap(size: usize) -> Result<(), RecipeError> {
    let p = populated(size)?;
    check(
        unsafe { libc::munmap(p as *mut libc::c_void, size) },
        "munmap",
    )
}

fn mremap_shrink(size: usize) -> Result<(), RecipeError> {
    let p = populated(size)?;
    let r = unsafe { libc::mremap(p as *mut libc::c_void, size, page(), 0) };
    if r == libc::MAP_FAILED {
        return Err(sys_err("mremap shrink", false));
    }
    Ok(())
}

fn mremap_move(size: usize) -> Result<(), RecipeError> {
    let p = populated(size)?;
    // A reserved destination, so the move cannot land next to the source.
    let dest = map_anon(size, 0).map_err(failed)?;
    let r = unsafe {
        libc::mremap(
            p as *mut libc::c_void,
            size,
            size,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            dest as *mut libc::c_void,
        )
    };
    if r == libc::MAP_FAILED {
        return Err(sys_err("mremap move", false));
    }
    Ok(())
}

fn brk_shrink(size: usize) -> Result<(), RecipeError> {
    let old = unsafe { libc::sbrk(size as libc::intptr_t) };
    if old as isize == -1 {
        return Err(failed(format!(
            "sbrk(+{} MiB): {}",
            size >> 20,
            errno_str()
        )));
    }
    let pg = page();
    let start = ((old as usize) + pg - 1) & !(pg - 1);
    let len = (old as usize + size - start) & !(pg - 1);
    no_thp(start as *mut u8, len).map_err(failed)?;
    touch(start as *mut u8, len);
    if unsafe { libc::sbrk(-(size as libc::intptr_t)) } as isize == -1 {
        return Err(failed(format!(
            "sbrk(-{} MiB): {}",
            size >> 20,
            errno_str()
        )));
    }
    Ok(())
}

fn mlock(size: usize) -> Result<(), RecipeError> {
    let p = populated(size)?;
    check(
        unsafe { libc::mlock(p as *const libc::c_void, size) },
        "mlock",
    )
}

fn mlock_fresh(size: usize) -> Result<(), RecipeError> {
    let p = map_anon(size, 0).map_err(failed)?;
    no_thp(p, size).map_err(failed)?;
    check(
        unsafe { libc::mlock(p as *const libc::c_void, size) },
        "mlock",
    )
}

fn munlock(size: usize) -> Result<(), RecipeError> {
    let p = populated(size)?;
    check(
        unsafe { libc::mlock(p as *const libc::c_void, size) },
        "mlock",
    )?;
    check(
        unsafe { libc::munlock(p as *const libc::c_void, size) },
        "munlock",
    )
}

fn mlockall(size: usize) -> Result<(), RecipeError> {
    let _p = populated(size)?;
    check(unsafe { libc::mlockall(libc::MCL_CURRENT) }, "mlockall")?;
    check(unsafe { libc::munlockall() }, "munlockall")
}

fn mprotect(size: usize) -> Result<(), RecipeError> {
    let p = populated(size)?;
    check(
        unsafe { libc::mprotect(p as *mut libc::c_void, size, libc::PROT_READ) },
        "mprotect(PROT_READ)",
    )
}

fn mprotect_locked_writable(size: usize) -> Result<(), RecipeError> {
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            size,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(sys_err("mmap PROT_READ", false));
    }
    no_thp(p as *mut u8, size).map_err(failed)?;
    check(unsafe { libc::mlock(p, size) }, "mlock")?;
    // mprotect_fixup() populates (breaks COW of) a locked private mapping
    // that becomes writable.
    check(
        unsafe { libc::mprotect(p, size, libc::PROT_READ | libc::PROT_WRITE) },
        "mprotect(PROT_READ|PROT_WRITE)",
    )
}

fn map_fixed(size: usize) -> Result<(), RecipeError> {
    let p = populated(size)?;
    let q = unsafe {
        libc::mmap(
            p as *mut libc::c_void,
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
            -1,
            0,
        )
    };
    if q == libc::MAP_FAILED {
        return Err(sys_err("mmap(MAP_FIXED)", false));
    }
    Ok(())
}

fn remap_file_pages(size: usize) -> Result<(), RecipeError> {
    let name = c"mmstall-confirm";
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(sys_err("memfd_create", false));
    }
    check(
        unsafe { libc::ftruncate(fd, size as libc::off_t) },
        "ftruncate",
    )?;
    let p = map_shared_raw(fd, size);
    if p.is_null() {
        return Err(sys_err("mmap MAP_SHARED memfd", false));
    }
    touch(p, size);
    // The whole range again at offset 0: the emulation maps it anew
    // (MAP_FIXED over the populated mapping).
    let r = unsafe { libc::syscall(libc::SYS_remap_file_pages, p, size, 0, 0, 0) };
    if r != 0 {
        return Err(sys_err("remap_file_pages", false));
    }
    Ok(())
}

fn fork(size: usize) -> Result<(), RecipeError> {
    let _p = populated(size)?;
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(sys_err("fork", false));
    }
    if pid == 0 {
        unsafe { libc::_exit(0) };
    }
    let mut st = 0;
    unsafe { libc::waitpid(pid, &mut st, 0) };
    Ok(())
}

fn exit(size: usize) -> Result<(), RecipeError> {
    // The process exits with the memory mapped: exit_mmap() tears it down.
    populated(size).map(|_| ())
}

fn exec(size: usize) -> Result<(), RecipeError> {
    let _p = populated(size)?;
    let prog = c"/bin/true";
    // A child of this process (a copy of the populated mm) replaces its mm.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(sys_err("fork", false));
    }
    if pid == 0 {
        let argv = [prog.as_ptr(), ptr::null()];
        unsafe {
            libc::execv(prog.as_ptr(), argv.as_ptr());
            libc::_exit(127)
        };
    }
    let mut st = 0;
    unsafe { libc::waitpid(pid, &mut st, 0) };
    if !libc::WIFEXITED(st) || libc::WEXITSTATUS(st) != 0 {
        return Err(failed(format!("/bin/true: wait status {st}")));
    }
    Ok(())
}

// userfaultfd ABI (include/uapi/linux/userfaultfd.h), not in the libc crate.
const UFFD_API: u64 = 0xAA;
const UFFD_FEATURE_PAGEFAULT_FLAG_WP: u64 = 1 << 0;
const UFFDIO_REGISTER_MODE_WP: u64 = 1 << 1;
const UFFDIO_WRITEPROTECT_MODE_WP: u64 = 1 << 0;

const fn iowr(nr: u64, size: u64) -> u64 {
    (3 << 30) | (size << 16) | (0xAA << 8) | nr
}
const UFFDIO_API: u64 = iowr(0x3F, 24);
const UFFDIO_REGISTER: u64 = iowr(0x00, 32);
const UFFDIO_WRITEPROTECT: u64 = iowr(0x06, 24);

fn uffd_wp_release(size: usize) -> Result<(), RecipeError> {
    let p = populated(size)?;
    let fd = unsafe { libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC) } as libc::c_int;
    if fd < 0 {
        return Err(sys_err("userfaultfd", false));
    }
    let mut api = [UFFD_API, UFFD_FEATURE_PAGEFAULT_FLAG_WP, 0];
    if unsafe { libc::ioctl(fd, UFFDIO_API as _, api.as_mut_ptr()) } != 0 {
        return Err(sys_err("UFFDIO_API with write-protect", true));
    }
    let mut reg = [p as u64, size as u64, UFFDIO_REGISTER_MODE_WP, 0];
    if unsafe { libc::ioctl(fd, UFFDIO_REGISTER as _, reg.as_mut_ptr()) } != 0 {
        return Err(sys_err("UFFDIO_REGISTER write-protect", true));
    }
    let mut wp = [p as u64, size as u64, UFFDIO_WRITEPROTECT_MODE_WP];
    if unsafe { libc::ioctl(fd, UFFDIO_WRITEPROTECT as _, wp.as_mut_ptr()) } != 0 {
        return Err(sys_err("UFFDIO_WRITEPROTECT", false));
    }
    // The release un-protects the whole range under the write lock.
    check(unsafe { libc::close(fd) }, "close(userfaultfd)")
}

const PR_SET_MEMORY_MERGE: libc::c_int = 67;

fn ksm_prctl_disable(size: usize) -> Result<(), RecipeError> {
    if unsafe { libc::prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0) } != 0 {
        return Err(sys_err("prctl(PR_SET_MEMORY_MERGE, 1) (KSM)", true));
    }
    let _p = populated(size)?;
    if unsafe { libc::prctl(PR_SET_MEMORY_MERGE, 0, 0, 0, 0) } != 0 {
        return Err(sys_err("prctl(PR_SET_MEMORY_MERGE, 0)", false));
    }
    Ok(())
}

fn madvise(p: *mut u8, size: usize, advice: libc::c_int, what: &str) -> Result<(), RecipeError> {
    if unsafe { libc::madvise(p as *mut libc::c_void, size, advice) } != 0 {
        return Err(sys_err(what, true));
    }
    Ok(())
}

/// `size` bytes of anonymous memory in 4 KiB pages, marked mergeable before
/// it is populated (a kernel without KSM says so before the work), then
/// every page written alike.
fn mergeable_populated(size: usize) -> Result<*mut u8, RecipeError> {
    let p = map_anon(size, 0).map_err(failed)?;
    no_thp(p, size).map_err(failed)?;
    madvise(
        p,
        size,
        libc::MADV_MERGEABLE,
        "madvise(MADV_MERGEABLE) (KSM)",
    )?;
    touch(p, size);
    Ok(p)
}

fn madvise_unmergeable(size: usize) -> Result<(), RecipeError> {
    let p = mergeable_populated(size)?;
    madvise(p, size, libc::MADV_UNMERGEABLE, "madvise(MADV_UNMERGEABLE)")
}

fn madvise_dontneed(size: usize) -> Result<(), RecipeError> {
    let p = map_anon(size, 0).map_err(failed)?;
    no_thp(p, size).map_err(failed)?;
    madvise(p, page(), libc::MADV_NORMAL, "madvise(2)")?;
    touch(p, size);
    madvise(p, size, libc::MADV_DONTNEED, "madvise(MADV_DONTNEED)")
}

const MADV_POPULATE_WRITE: libc::c_int = 23;

fn madvise_populate_write(size: usize) -> Result<(), RecipeError> {
    let p = map_anon(size, 0).map_err(failed)?;
    no_thp(p, size).map_err(failed)?;
    madvise(p, size, MADV_POPULATE_WRITE, "madvise(MADV_POPULATE_WRITE)")
}

const MPOL_BIND: libc::c_long = 2;
const MPOL_MF_MOVE: libc::c_long = 1 << 1;

fn mbind(p: *mut u8, size: usize, mode: libc::c_long, flags: libc::c_long) -> libc::c_long {
    let nodemask: libc::c_ulong = 1;
    unsafe {
        libc::syscall(
            libc::SYS_mbind,
            p,
            size,
            mode,
            &nodemask as *const libc::c_ulong,
            64 as libc::c_ulong,
            flags,
        )
    }
}

fn mbind_move(size: usize) -> Result<(), RecipeError> {
    let p = map_anon(size, 0).map_err(failed)?;
    no_thp(p, size).map_err(failed)?;
    // A kernel without NUMA says so before the work.
    if mbind(p, page(), MPOL_BIND, 0) != 0 {
        return Err(sys_err("mbind(MPOL_BIND) (NUMA)", false));
    }
    touch(p, size);
    if mbind(p, size, MPOL_BIND, MPOL_MF_MOVE) != 0 {
        return Err(sys_err("mbind(MPOL_MF_MOVE)", false));
    }
    Ok(())
}

fn clear_refs(size: usize) -> Result<(), RecipeError> {
    let _p = populated(size)?;
    match std::fs::write("/proc/self/clear_refs", "4") {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(RecipeError::Unavailable(
            "/proc/self/clear_refs: not in this kernel (PROC_PAGE_MONITOR)".into(),
        )),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Err(RecipeError::Unavailable(format!(
            "clear_refs 4 (soft-dirty): {e}"
        ))),
        Err(e) => Err(failed(format!("/proc/self/clear_refs: {e}"))),
    }
}

/// A child with a copy of `size` bytes of populated memory waits on a pipe;
/// this process writes one page of every [`REMOTE_STRIDE`] of that memory
/// through /proc/CHILD/mem (`mem_rw()` → `__access_remote_vm()`, one
/// read-lock hold per page: get_user_pages of the child's mm, a COW break,
/// `set_page_dirty_lock()`). Not every page: each is two traced events
/// with stacks, and the holds are per page whatever the size.
fn remote_write(size: usize) -> Result<(), RecipeError> {
    let p = populated(size)?;
    let mut fds = [0; 2];
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(sys_err("pipe2", false));
    }
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(sys_err("fork", false));
    }
    if pid == 0 {
        let mut b = [0u8; 1];
        unsafe {
            libc::close(fds[1]);
            libc::read(fds[0], b.as_mut_ptr() as *mut libc::c_void, 1);
            libc::_exit(0)
        };
    }
    unsafe { libc::close(fds[0]) };
    let result = write_mem(pid, p as usize, size);
    // The child exits when the pipe closes.
    unsafe { libc::close(fds[1]) };
    let mut st = 0;
    unsafe { libc::waitpid(pid, &mut st, 0) };
    result
}

/// Pages of which remote-write writes one.
const REMOTE_STRIDE: usize = 16;

fn write_mem(pid: libc::pid_t, addr: usize, size: usize) -> Result<(), RecipeError> {
    use std::os::unix::fs::FileExt;
    let path = format!("/proc/{pid}/mem");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|e| failed(format!("opening {path} for writing: {e}")))?;
    let data = vec![0x5au8; page()];
    let mut off = 0;
    while off < size {
        match f.write_at(&data, (addr + off) as u64) {
            Ok(w) if w == data.len() => off += REMOTE_STRIDE * page(),
            Ok(w) => {
                return Err(failed(format!(
                    "{path}: wrote {w} of {} bytes at {off}",
                    data.len()
                )))
            }
            Err(e) => return Err(failed(format!("writing {path} at {off}: {e}"))),
        }
    }
    Ok(())
}

/// mlockall(MCL_FUTURE), then the heap grows by `size`: brk(2) maps it
/// under the write lock and, the mm being locked, populates it after the
/// write unlock (`mm_populate()` → `__mm_populate()`, read lock).
fn mlockall_future_brk(size: usize) -> Result<(), RecipeError> {
    check(
        unsafe { libc::mlockall(libc::MCL_FUTURE) },
        "mlockall(MCL_FUTURE)",
    )?;
    let old = unsafe { libc::sbrk(size as libc::intptr_t) };
    if old as isize == -1 {
        return Err(failed(format!(
            "sbrk(+{} MiB) under mlockall(MCL_FUTURE): {}",
            size >> 20,
            errno_str()
        )));
    }
    check(unsafe { libc::munlockall() }, "munlockall")
}
