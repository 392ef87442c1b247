//! MMS003 (write-hold-walk): the mmap lock held across page-table walks.
//! The analysis reports every `walk` long operation reached under a hold
//! (write); this file says which are findings and how they read.

use super::{Check, Rule, Severity, Watch};
use crate::catalogue::LongClass;

pub const RULE: Rule = Rule {
    id: "write-hold-walk",
    code: "MMS003",
    summary: "mmap lock held for write across a page-table walk",
    default_severity: Severity::Warning,
    check: &WriteHoldWalk,
    doc: r#"# write-hold-walk (MMS003)

## What it finds
A function that holds an mm's mmap lock for **write** while it walks page
tables over a range: `walk_page_range`, `change_protection`,
`mprotect_fixup`, `move_page_tables`, `copy_page_range`... (the catalogue), or
calls a per-page-table primitive (`change_pte_range`, `move_ptes`) in a loop.

## Why it matters
A walk costs time proportional to the range: large `mprotect()`, `mremap()` or
`fork()` of big address spaces hold off every reader and fault of the mm for
as long as the walk runs. Some walks need the write lock (they change VMAs);
each finding is a place to check whether the walk could run under the read
lock or per-VMA lock, or in bounded chunks.

## Example
```c
mmap_write_lock(mm);
for_each_vma_range(vmi, vma, end)
        walk_page_range(mm, vma->vm_start, vma->vm_end, &ops, NULL); /* MMS003 */
mmap_write_unlock(mm);
```

## Known limits
- Many walks under the write lock are required for correctness (`mprotect`
  changes VMA flags); the rule reports them so the choice is explicit. Accept
  known ones with a baseline.
- Walks through function pointers (`mm_walk_ops`) are not followed.
"#,
};

#[derive(Debug)]
pub struct WriteHoldWalk;

impl Check for WriteHoldWalk {
    fn watches(&self) -> Watch {
        Watch::Long(LongClass::Walk)
    }

    fn operation(&self) -> &'static str {
        "a page-table walk"
    }
}
