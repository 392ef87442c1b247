//! MMS002 (write-hold-zap): the mmap lock held across page zapping.
//! The analysis reports every `zap` long operation reached under a hold
//! (write); this file says which are findings and how they read.

use super::{Check, Rule, Severity, Watch};
use crate::catalogue::LongClass;

pub const RULE: Rule = Rule {
    id: "write-hold-zap",
    code: "MMS002",
    summary: "mmap lock held for write across page zapping",
    default_severity: Severity::Warning,
    check: &WriteHoldZap,
    doc: r#"# write-hold-zap (MMS002)

## What it finds
A function that holds an mm's mmap lock for **write** while it zaps page
tables: it reaches `unmap_region`, `unmap_vmas`, `zap_page_range*`,
`unmap_single_vma`, `free_pgtables`... (the catalogue; `vms_clear_ptes`
only when its definition is not in view), or calls a per-page zap
primitive in a loop. Constant arguments are followed:
munmap helpers take a `bool unlock`/`downgrade` flag and downgrade the lock
only when it is true, so a caller passing `true` zaps under read (clean) while
one passing `false` zaps under write (finding).

## Why it matters
Zapping a large mapping frees every page and page table; a 320 GB `munmap()`
zapped for 18 s under the write lock, stalling every page fault and `/proc`
reader of the process. The fix detaches the VMAs from the tree under the write
lock, downgrades to read, and zaps under the read lock.

## Example
```c
mmap_write_lock(mm);
detach_vmas(mm, start, end);
unmap_region(mm, vma, start, end);  /* MMS002 */
mmap_write_unlock(mm);
```
Clean:
```c
mmap_write_lock(mm);
detach_vmas(mm, start, end);
mmap_write_downgrade(mm);
unmap_region(mm, vma, start, end);
mmap_read_unlock(mm);
```

## Known limits
- Flags are followed through parameters and through fields of struct
  parameters set by an init helper (`vms->unlock = unlock`), not through
  arbitrary memory.
- `exit_mmap` and friends run when no one else can use the mm; they are in the
  catalogue for completeness, and a finding there is usually benign.
- A mapping made without `MAP_FIXED` (aio's ring, `mmap(2)` of a hint) lands
  where `get_unmapped_area()` found room: `mmap_region()` replaces nothing
  (catalogue `[free_range]`; the caller's flags are read by name where the
  tree's numbers differ per architecture). Flags the holder builds in
  branches are unknown by name (x86 `alloc_shstk`), and the `->mmap` error
  path stays a finding even for a file whose `->mmap` never fails: callback
  tables are not resolved.
"#,
};

#[derive(Debug)]
pub struct WriteHoldZap;

impl Check for WriteHoldZap {
    fn watches(&self) -> Watch {
        Watch::Long(LongClass::Zap)
    }

    fn operation(&self) -> &'static str {
        "page zapping"
    }
}
