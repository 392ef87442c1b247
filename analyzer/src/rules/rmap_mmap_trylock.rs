use super::{Rule, Severity};

pub const RULE: Rule = Rule {
    id: "rmap-mmap-trylock",
    code: "MMS005",
    summary: "mmap lock trylock inside a reverse-map walk",
    default_severity: Severity::Warning,
    long_class: None,
    doc: r#"# rmap-mmap-trylock (MMS005)

## What it finds
A `down_read_trylock()` / `mmap_read_trylock()` of an mm's mmap lock in a
function reached from a reverse-map walk: a catalogue walker
(`try_to_unmap_one`, `try_to_munlock_one`, `page_referenced_one`...) or a
function passed as an `rmap_walk_control` callback (`.rmap_one = f`). Trylocks
of other locks (anon_vma, hugetlb VMA lock, i_mmap) and `rwsem_is_locked()`
queries are not findings.

## Why it matters
Reverse-map walkers run under the anon_vma or i_mmap lock and cannot sleep on
the mmap lock, so the code tries it. When the trylock fails (a writer holds or
waits for the lock: any `mmap()` or `munmap()` in that process) the work is
silently skipped: `PageMlocked` is not set, the page stays on an evictable LRU
and reclaim keeps finding it. The fix used the page table lock, which the walk
already takes, instead of the mmap lock.

## Example
```c
static bool demo_munlock_one(struct folio *folio, struct vm_area_struct *vma,
                             unsigned long addr, void *arg)
{
        if (mmap_read_trylock(vma->vm_mm)) {     /* MMS005 */
                if (vma->vm_flags & VM_LOCKED)
                        mlock_folio(folio);
                mmap_read_unlock(vma->vm_mm);
        }
        return true;
}
```

## Known limits
- Reachability from walkers follows direct calls up to four levels.
- Callbacks are found lexically from `.rmap_one = f` initializers in the
  analyzed files.
"#,
};
