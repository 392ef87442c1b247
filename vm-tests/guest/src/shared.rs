//! The anonymous shared mapping a repetition's processes record into: a
//! header (flags, the operation's window, counts, an error text), then the
//! read samples, then the fault samples. Written with atomics and plain
//! stores across fork(); read by the runner after the children exited.

use crate::sys::errno_str;
use std::ptr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

pub const READ_CAP: usize = 1 << 20;
pub const FAULT_CAP: usize = 1 << 18;

/// The start of the shared mapping: flags the processes of a repetition
/// synchronize on, the operation's window, sample counts and an error text.
#[repr(C)]
pub struct Header {
    pub stop: AtomicU32,
    pub armed: AtomicU32,
    pub reader_ready: AtomicU32,
    pub error_len: AtomicU32,
    pub op_start: AtomicU64,
    pub op_end: AtomicU64,
    pub n_reads: AtomicU64,
    pub n_faults: AtomicU64,
    error: [u8; 1024],
}

/// One timed access (CLOCK_MONOTONIC ns); `kind` tells accesses of one
/// area apart (e.g. cmdline 0, status 1).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Sample {
    pub start: u64,
    pub end: u64,
    pub kind: u64,
}

/// The shared mapping: header, read samples, fault samples.
pub struct Shared {
    base: *mut u8,
    len: usize,
}

impl Shared {
    pub fn new() -> Result<Shared, String> {
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
    pub fn hdr(&self) -> &Header {
        unsafe { &*(self.base as *const Header) }
    }
    pub fn reads(&self) -> *mut Sample {
        unsafe { self.base.add(std::mem::size_of::<Header>()) as *mut Sample }
    }
    pub fn faults(&self) -> *mut Sample {
        unsafe { self.reads().add(READ_CAP) }
    }
    pub fn push_read(&self, s: Sample) {
        let i = self.hdr().n_reads.load(Ordering::Relaxed) as usize;
        if i < READ_CAP {
            unsafe { self.reads().add(i).write(s) };
            self.hdr().n_reads.store(i as u64 + 1, Ordering::Release);
        }
    }
    pub fn push_fault(&self, s: Sample) {
        let i = self.hdr().n_faults.load(Ordering::Relaxed) as usize;
        if i < FAULT_CAP {
            unsafe { self.faults().add(i).write(s) };
            self.hdr().n_faults.store(i as u64 + 1, Ordering::Release);
        }
    }
    /// A child's exit code for what its work returned: 0, or 2 with the
    /// error left here for the runner to report.
    pub fn exit_code(&self, result: Result<(), String>) -> i32 {
        match result {
            Ok(()) => 0,
            Err(e) => {
                self.set_error(&e);
                2
            }
        }
    }
    pub fn set_error(&self, msg: &str) {
        let h = self.base as *mut Header;
        let b = msg.as_bytes();
        let n = b.len().min(1024);
        unsafe { ptr::copy_nonoverlapping(b.as_ptr(), (*h).error.as_mut_ptr(), n) };
        self.hdr().error_len.store(n as u32, Ordering::Release);
    }
    pub fn error(&self) -> Option<String> {
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
pub struct SharedPtr(*mut u8, usize);
unsafe impl Send for SharedPtr {}

impl Shared {
    /// The mapping's address, for a thread of the same process.
    pub fn ptr(&self) -> SharedPtr {
        SharedPtr(self.base, self.len)
    }
}

impl SharedPtr {
    /// The mapping seen from a thread: not unmapped when dropped (the
    /// owning [`Shared`] does that).
    pub fn shared(self) -> std::mem::ManuallyDrop<Shared> {
        std::mem::ManuallyDrop::new(Shared {
            base: self.0,
            len: self.1,
        })
    }
}
