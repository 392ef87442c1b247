//! MMS004 (hold-across-io-wait): the mmap lock held across waits for page I/O.
//! The analysis reports every `io_wait` long operation reached under a hold
//! (any mode); this file says which are findings and how they read.

use super::{Check, Rule, Severity, Watch};
use crate::catalogue::LongClass;
use crate::summary::{Hit, Program};

pub const RULE: Rule = Rule {
    id: "hold-across-io-wait",
    code: "MMS004",
    summary: "mmap lock held (read or write) across a wait for page I/O in the fault path",
    default_severity: Severity::Warning,
    check: &HoldAcrossIoWait,
    doc: r#"# hold-across-io-wait (MMS004)

## What it finds
A blocking page or folio lock or I/O wait (`lock_page`, `wait_on_page_locked`,
`folio_lock`, `folio_wait_locked`... — the catalogue's `[long_ops.io_wait]`)
reached while the mmap lock is held in **any** mode, unless the fault retry
protocol covers it on the call path: a function on the path calls a
lock-dropping helper (`maybe_unlock_mmap_for_io`, `release_fault_lock`: the
catalogue's `[fault_path] retry_drops`) or tests `FAULT_FLAG_ALLOW_RETRY` in a
condition (`retry_flag_tests`) *before* the call that leads to the wait, or the
wait is inside a lock-or-retry helper itself (`__lock_page_or_retry`,
`__folio_lock_or_retry`...: `retry_lock_helpers`; the wait of a fault that may
not retry again is the protocol's). Markers count in code, not in comments.
What does not cover a wait: having called a lock-or-retry helper (it returns
with the lock still held when it succeeds: 2.6.37 `filemap_fault()` re-reads a
page that is not up to date and waits for it under the lock), setting
`FAULT_FLAG_ALLOW_RETRY` for the callees (`flags = FAULT_FLAG_ALLOW_RETRY |
..`), and testing a result for `VM_FAULT_RETRY` (`if (ret & VM_FAULT_RETRY)
return ret;`: the path that goes on kept the lock). A wait that
comes before the drop is the historical stall (mmstall's
`fault-wait-under-mmap-lock` regression patch moves 6.12's
`lock_folio_maybe_drop_mmap()` wait before it and is reported). Callees that
wait only when a flag asks for it (`__filemap_get_folio` with `FGP_LOCK`) are
listed in `[fault_path] flag_guarded_waits`. A wait on a folio or page the
function has just allocated is no wait (nobody else can hold it): when the
first argument holds, on every path to the call, the result of one of the
`[fault_path] fresh_allocators` (6.12 `hugetlb_no_page()` locking the huge
folio it allocated), the call is skipped. Fault handlers are entered with
the lock held for read: the entry contract comes from the catalogue
(`filemap_fault`, `handle_mm_fault`, `do_page_fault`...), from `.fault = f`
initializers, and from the callers the analyzer sees.

## Why it matters
A page fault that waits for a disk read while holding the mmap lock, even for
read, blocks every writer of the mm (`mmap`, `munmap`, `mprotect`) for the whole
I/O, and every new reader queued behind that writer. Letting the fault drop the
lock, wait for the page, and retry made mmap/munmap loops against a faulting
thread go from 55 to 15,000 iterations per second.

## Example
```c
static vm_fault_t demo_fault(struct vm_fault *vmf)
{
        struct page *page = find_get_page(mapping, vmf->pgoff);

        lock_page(page);          /* MMS004: sleeps on I/O under mmap_lock */
        vmf->page = page;
        return VM_FAULT_LOCKED;
}
```
Clean: `if (!lock_page_or_retry(page, vmf->vma->vm_mm, vmf->flags)) return VM_FAULT_RETRY;`,
or waiting only after `mmap_read_unlock()`.

## Known limits
- The retry protocol is recognized by name and textual order, per function on
  the call path: a marker earlier in the body than the call on the path
  trusts that call, whatever branch the marker is on.
- A fresh allocation is followed within one function, through plain
  assignments: one returned by a helper, or passed on through a pointer, is
  not known to be fresh (its lock is reported).
- Fault handlers reached only through `vm_ops->fault` pointers outside the
  analyzed PATH are not seen unless named in the catalogue.
"#,
};

#[derive(Debug)]
pub struct HoldAcrossIoWait;

impl Check for HoldAcrossIoWait {
    fn watches(&self) -> Watch {
        Watch::Long(LongClass::IoWait)
    }

    fn operation(&self) -> &'static str {
        "a wait for page I/O, without the fault retry protocol"
    }

    /// Hits through a function that uses the fault retry protocol before
    /// the call on the chain are not findings: the wait happens after the
    /// lock was dropped (`maybe_unlock_mmap_for_io()`,
    /// `release_fault_lock()`, a `FAULT_FLAG_ALLOW_RETRY` test), or is the
    /// protocol's own (inside a lock-or-retry helper). A marker only after
    /// the call does not count: a wait moved before the drop is the
    /// historical stall.
    fn reports(&self, program: &Program, hit: &Hit) -> bool {
        let helpers = &program.cat.fault_path.retry_lock_helpers;
        !hit.chain.iter().any(|(f, c)| {
            let f = program.function(f);
            helpers.contains(&f.name) || f.retry_protocol_before(c)
        })
    }
}
