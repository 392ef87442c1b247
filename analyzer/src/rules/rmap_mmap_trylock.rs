//! MMS005 (rmap-mmap-trylock): a trylock of the mmap lock in a function
//! reached from a reverse-map walk. An event rule: it looks for the event
//! itself, breadth-first from the walkers, and builds its findings.

use std::collections::{HashSet, VecDeque};

use super::{Check, Designated, Rule, Severity, Watch};
use crate::catalogue::{AcquireCond, LockOp};
use crate::finding::{fingerprint, Finding, Location};
use crate::summary::{FnId, Program};

pub const RULE: Rule = Rule {
    id: "rmap-mmap-trylock",
    code: "MMS005",
    summary: "mmap lock trylock inside a reverse-map walk",
    default_severity: Severity::Warning,
    check: &RmapMmapTrylock,
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

/// Walkers are followed through direct calls this many functions deep.
const MAX_PATH: usize = 4;

#[derive(Debug)]
pub struct RmapMmapTrylock;

impl Check for RmapMmapTrylock {
    fn watches(&self) -> Watch {
        Watch::RmapTrylock
    }

    /// A trylock of the mmap lock in a function reached from a reverse map
    /// walk (a catalogue walker, or a function passed as `.rmap_one`).
    fn check_program(&self, program: &Program, designated: &Designated) -> Vec<Finding> {
        let cat = program.cat;
        let mut walkers: Vec<FnId> = Vec::new();
        for name in cat.rmap.walkers.iter().chain(designated.rmap_callbacks) {
            walkers.extend(program.find(name));
        }
        walkers.sort();
        walkers.dedup();
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for &walker in &walkers {
            // Breadth-first over resolved calls, a few levels deep, keeping the path.
            let mut queue = VecDeque::from([(walker, vec![walker])]);
            let mut visited = HashSet::from([walker]);
            while let Some((fid, path)) = queue.pop_front() {
                let f = program.function(fid);
                for (cid, call) in f.calls.iter().enumerate() {
                    if let Some(entry) = crate::lockstate::lock_api(cat, call) {
                        let is_trylock =
                            entry.op == LockOp::Acquire && entry.cond == Some(AcquireCond::Nonzero);
                        if is_trylock && seen.insert((fid, cid)) {
                            out.push(finding(program, &path, fid, cid as u32));
                        }
                        continue;
                    }
                    if path.len() < MAX_PATH {
                        if let Some(g) = program.callee(fid, cid as u32) {
                            if visited.insert(g) {
                                let mut p = path.clone();
                                p.push(g);
                                queue.push_back((g, p));
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

/// The finding for a trylock at `(fid, cid)` reached by `path` from a walker.
fn finding(program: &Program, path: &[FnId], fid: FnId, cid: u32) -> Finding {
    let f = program.function(fid);
    let call = &f.calls[cid as usize];
    let rule = &RULE;
    let file = program.files[f.file as usize].clone();
    let call_path: Vec<String> = path
        .iter()
        .map(|p| program.function(*p).name.clone())
        .collect();
    let call_text = format!("{}({})", call.callee, call.args.join(", "));
    let occurrence = f.calls[..cid as usize]
        .iter()
        .filter(|c| c.callee == call.callee && c.args == call.args)
        .count();
    let fingerprint = fingerprint(&[
        rule.id,
        &file,
        &f.name,
        &call_text,
        &occurrence.to_string(),
        &call_path.join(">"),
    ]);
    Finding {
        rule: rule.id,
        code: rule.code,
        severity: rule.default_severity,
        file: file.clone(),
        line: call.line,
        column: call.column,
        function: f.name.clone(),
        holder: f.name.clone(),
        message: format!(
            "`{}` tries the mmap lock (`{}`) in a reverse-map walk (from `{}`): a failed trylock silently skips the work",
            f.name, call.callee, call_path[0]
        ),
        call_path,
        operation: call.callee.clone(),
        lock_mode: "read",
        acquired_at: Location { file, line: call.line },
        held_on_entry: false,
        context: Vec::new(),
        fingerprint,
        call_text,
        site_id: String::new(),
        triggers: Vec::new(),
        context_callers: Vec::new(),
        measured: None,
    }
}
