//! MMS001 (write-hold-populate): the mmap lock held across page population.
//! The analysis reports every `populate` long operation reached under a hold
//! (write); this file says which are findings and how they read.

use super::{Check, Rule, Severity, Watch};
use crate::catalogue::LongClass;

pub const RULE: Rule = Rule {
    id: "write-hold-populate",
    code: "MMS001",
    summary: "mmap lock held for write across page population",
    default_severity: Severity::Warning,
    check: &WriteHoldPopulate,
    doc: r#"# write-hold-populate (MMS001)

## What it finds
A function that holds an mm's mmap lock for **write** while it populates pages:
it calls (directly or through any chain of helpers) a population operation
from the catalogue (`__mm_populate`, `populate_vma_page_range`,
`__mlock_vma_pages_range`, `get_user_pages*`, ...) or calls a per-page fault
primitive (`handle_mm_fault`, `faultin_page`) in a loop.

## Why it matters
Faulting in gigabytes takes seconds to minutes. Under the write lock every other
user of the address space waits: `ps` reading `/proc/PID/cmdline`, page faults of
the process's other threads, `mmap`/`munmap`. The historical `mlock()` of 20 GB
blocked readers of `/proc/PID/cmdline` for the whole population. The fix was to
set the VMA flags under the write lock, then drop it (or downgrade it to read)
and populate under the read lock with `__mm_populate()`.

## Example
```c
mmap_write_lock(mm);
error = apply_vma_lock_flags(start, len, flags);
__mm_populate(start, len, 0);      /* MMS001: populates under the write lock */
mmap_write_unlock(mm);
```
Clean:
```c
mmap_write_lock(mm);
error = apply_vma_lock_flags(start, len, flags);
mmap_write_unlock(mm);
if (!error)
        error = __mm_populate(start, len, 0);
```

## Known limits
- One abstract lock per function: holds of two different mms (as in
  `dup_mmap`) are not told apart.
- Indirect calls (function pointers, `vm_ops->fault`) are not followed.
- Population done by helpers outside the analyzed PATH is only seen through the
  catalogue; add your helpers to `mmstall.toml`.
"#,
};

#[derive(Debug)]
pub struct WriteHoldPopulate;

impl Check for WriteHoldPopulate {
    fn watches(&self) -> Watch {
        Watch::Long(LongClass::Populate)
    }

    fn operation(&self) -> &'static str {
        "page population"
    }
}
