//! Selection: which chunks are parsed. From the chunks naming the lock
//! (and fault handlers, rmap callbacks), the callees that can reach a long
//! operation, lexically; each round then pulls in the definitions of
//! callees the analysis reached under a write hold without a definition.
//! Of what is selected, only the chunks a hold can reach are parsed
//! ([`mark_analyzed`]).

use crate::catalogue::{HashMap, HashSet};

use super::files::LoadedFile;
use super::name_index::NameIndex;
use crate::catalogue::Catalogue;
use crate::limits::CONTEXT_LEVELS;

/// Callees reached under a write hold are pulled in when their chunk can
/// reach a long operation (lexically) or is a short helper that stores into
/// struct fields (init helpers that carry constants, like `init_vma_munmap`).
const SHORT_CHUNK_LINES: usize = 40;
/// A name defined in more places than this (static helpers of many drivers)
/// is only followed to a definition in the caller's own file.
const MAX_HOMONYMS: usize = 3;

/// Names defined by chunks that can reach a long operation, following
/// lexical calls between the known chunks.
pub(super) fn lexical_reach_long(files: &[LoadedFile], cat: &Catalogue) -> HashSet<String> {
    let walkers = walkers(files);
    // Chunks that call (or hand a callback to a walker) something known:
    // most call nothing (definitions-only scans).
    let mut chunks: Vec<(usize, usize)> = Vec::new();
    // Per name, the chunks whose verdict it can change: those calling it,
    // and those handing it to a walker.
    let mut watchers: HashMap<&str, Vec<u32>> = HashMap::default();
    for (fi, f) in files.iter().enumerate() {
        for (k, calls) in f.scan.calls.iter().enumerate() {
            let passed = f.scan.passed(k);
            if calls.is_empty() && passed.is_empty() {
                continue;
            }
            let id = chunks.len() as u32;
            chunks.push((fi, k));
            for c in calls {
                watchers.entry(c.as_str()).or_default().push(id);
            }
            if calls.iter().any(|c| walkers.contains(c.as_str())) {
                for c in passed {
                    watchers.entry(c.as_str()).or_default().push(id);
                }
            }
        }
    }
    // A chunk reaches a long operation when it makes a long call (a loop
    // one inside a loop), calls a chunk that does, or hands one to a
    // walker. Monotone in `reach`: a worklist over the chunks whose calls
    // gained a name finds the same fixpoint as re-reading every chunk.
    let mut reach: HashSet<String> = HashSet::default();
    let mut queued = vec![true; chunks.len()];
    let mut work: Vec<u32> = (0..chunks.len() as u32).rev().collect();
    while let Some(id) = work.pop() {
        queued[id as usize] = false;
        let (fi, k) = chunks[id as usize];
        let f = &files[fi];
        let defs = &f.scan.defs[k];
        if defs.iter().all(|d| reach.contains(&**d)) {
            continue;
        }
        let calls = &f.scan.calls[k];
        let long_call =
            |c: &String| cat.long_ops.get(c).is_some_and(|op| !op.in_loop) || reach.contains(c);
        let loop_call = |c: &String| cat.long_ops.get(c).is_some_and(|op| op.in_loop);
        // A callback handed to a walker runs inside it.
        let passes_long = || {
            calls.iter().any(|c| walkers.contains(c.as_str()))
                && f.scan.passed(k).iter().any(|c| reach.contains(c))
        };
        if calls.iter().any(long_call)
            || (f.scan.has_loop[k] && calls.iter().any(loop_call))
            || passes_long()
        {
            for d in defs.iter() {
                if reach.insert(d.to_string()) {
                    for &w in watchers.get(&**d).into_iter().flatten() {
                        if !queued[w as usize] {
                            queued[w as usize] = true;
                            work.push(w);
                        }
                    }
                }
            }
        }
    }
    reach
}

/// Names of functions that call one of their function-pointer parameters,
/// or hand one on to such a function (transitively).
fn walkers(files: &[LoadedFile]) -> HashSet<&str> {
    let mut walkers: HashSet<&str> = HashSet::default();
    loop {
        let before = walkers.len();
        for f in files {
            for (k, params) in f.scan.chunks_with_fn_params() {
                let k = *k;
                if f.scan.defs[k].iter().all(|d| walkers.contains(&**d)) {
                    continue;
                }
                let calls = &f.scan.calls[k];
                let calls_param = calls.iter().any(|c| params.contains(c));
                let hands_on = calls.iter().any(|c| walkers.contains(c.as_str()))
                    && f.scan.passed(k).iter().any(|p| params.contains(p));
                if calls_param || hands_on {
                    walkers.extend(f.scan.defs[k].iter().map(|d| &**d));
                }
            }
        }
        if walkers.len() == before {
            return walkers;
        }
    }
}

/// Whether chunk `k` of `f` is a walker (see [`walkers`]).
fn is_walker(f: &LoadedFile, k: usize, walkers: &HashSet<String>) -> bool {
    f.scan.defs[k].iter().any(|d| walkers.contains(&**d))
}

/// From the selected chunks, selects (transitively) the chunks defining the
/// callees that can reach a long operation.
pub(super) fn select_long_reaching_callees(
    files: &mut [LoadedFile],
    index: &NameIndex,
    reach: &HashSet<String>,
    cat: &Catalogue,
) {
    // Start from every selected chunk: write holders, and read holders or
    // hinted functions whose callees run under a caller's write hold. A
    // chunk expanded by an earlier call against the same index has its
    // targets selected already: only the others are expanded (the result,
    // a closure, does not depend on the order).
    let walkers: HashSet<String> = walkers(files).into_iter().map(str::to_string).collect();
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for (fi, f) in files.iter_mut().enumerate() {
        if f.expanded_with != index.generation {
            f.expanded.iter_mut().for_each(|e| *e = false);
            f.expanded_with = index.generation;
        }
        for (ci, s) in f.selected.iter().enumerate() {
            if *s && !f.expanded[ci] {
                stack.push((fi, ci));
            }
        }
    }
    while let Some((fi, ci)) = stack.pop() {
        files[fi].expanded[ci] = true;
        // Callees that can reach a long operation, and short helpers that
        // store into struct fields (constants for the callees after them).
        let callees: Vec<&String> = files[fi].scan.calls[ci]
            .iter()
            .filter(|c| cat.long_ops.get(*c).is_none_or(|op| op.unless_defined))
            .collect();
        // Callbacks this chunk hands on that can reach a long operation; a
        // walker that calls a function-pointer parameter is then wanted too.
        let calls_walker = files[fi].scan.calls[ci].iter().any(|c| walkers.contains(c));
        let passed: Vec<&String> = files[fi]
            .scan
            .passed(ci)
            .iter()
            .filter(|c| calls_walker && reach.contains(*c))
            .collect();
        let hands_on_long = !passed.is_empty();
        let mut targets = Vec::new();
        for c in callees.into_iter().chain(passed) {
            let defs = index.get(c);
            let wanted = |&(f, k): &(usize, usize)| {
                reach.contains(c)
                    || (hands_on_long && is_walker(&files[f], k, &walkers))
                    || (files[f].scan.stores_fields[k] && files[f].lines(k) <= SHORT_CHUNK_LINES)
                    // A short leaf helper of the same file switching on a
                    // value: a predicate the caller may branch on
                    // (`madvise_need_mmap_write()`).
                    || (f == fi
                        && files[f].lines(k) <= SHORT_CHUNK_LINES
                        && files[f].scan.calls[k]
                            .iter()
                            .all(|n| files[f].scan.defs[k].iter().any(|d| **d == **n))
                        && files[f].scan.has_switch[k])
                    // A short loop-free helper of the same file returning a
                    // value, calling only helpers of its file or macros (no
                    // definition anywhere): a predicate whose result a
                    // context may decide (`writeback_throttling_sane(sc)`
                    // -> `cgroup_reclaim(sc)` -> `sc->target_mem_cgroup`).
                    || (f == fi
                        && files[f].lines(k) <= SHORT_CHUNK_LINES
                        && files[f].scan.returns_value[k]
                        && !files[f].scan.has_loop[k]
                        && files[f].scan.calls[k]
                            .iter()
                            .all(|n| index.get(n).iter().all(|&(g, _)| g == fi)))
                    // A short wrapper of a zeroing allocator (6.1
                    // `btrfs_alloc_path()` -> `kmem_cache_zalloc()`): the
                    // fields of what it returns are 0 until written.
                    || (files[f].lines(k) <= SHORT_CHUNK_LINES
                        && files[f].scan.returns_value[k]
                        && files[f].scan.calls[k]
                            .iter()
                            .any(|n| cat.zeroing_allocators.contains_key(n)))
                    // A short helper of the same file whose result a flag
                    // assumed clear may decide, loops and calls or not.
                    || (f == fi
                        && files[f].lines(k) <= SHORT_CHUNK_LINES
                        && files[f].scan.returns_value[k]
                        && files[f].scan.tests_assumed_clear[k])
            };
            if defs.len() > MAX_HOMONYMS {
                targets.extend(
                    defs.iter()
                        .copied()
                        .filter(|(f, _)| *f == fi)
                        .filter(wanted),
                );
            } else {
                targets.extend(defs.iter().copied().filter(wanted));
            }
        }
        // Every selected chunk is expanded or on the stack: selected means visited.
        for t in targets {
            if !files[t.0].selected[t.1] {
                files[t.0].select(t.1);
                stack.push(t);
            }
        }
    }
}

/// Selects the wanted definitions of `missing` callees (reached under a
/// write hold without a definition), and lexically the wanted callees of
/// what is selected, so few rounds are needed. False when nothing new was
/// selected.
pub(super) fn pull_missing(
    files: &mut [LoadedFile],
    index: &NameIndex,
    missing: &std::collections::BTreeSet<String>,
    reach_long: &HashSet<String>,
) -> bool {
    let wanted = |f: &LoadedFile, ci: usize| {
        f.scan.calls_unknown
            || f.scan.defs[ci].iter().any(|d| reach_long.contains(&**d))
            || (f.scan.stores_fields[ci] && f.lines(ci) <= SHORT_CHUNK_LINES)
    };
    let mut pulled = false;
    let mut queue: Vec<(usize, usize)> = Vec::new();
    for name in missing {
        let defs = index.get(name);
        if defs.len() > MAX_HOMONYMS {
            continue; // a common static name: no telling which one is meant
        }
        queue.extend(defs.iter().copied());
    }
    while let Some((fi, ci)) = queue.pop() {
        if files[fi].selected[ci] || !wanted(&files[fi], ci) {
            continue;
        }
        files[fi].select(ci);
        // Reached by the analysis: parsed whatever the lexical calls say
        // (a file scanned for its definitions has none).
        files[fi].analyzed[ci] = true;
        pulled = true;
        for callee in &files[fi].scan.calls[ci] {
            let defs = index.get(callee);
            if defs.len() <= MAX_HOMONYMS {
                queue.extend(defs.iter().copied().filter(|&(f, c)| !files[f].selected[c]));
            } else {
                queue.extend(
                    defs.iter()
                        .copied()
                        .filter(|&(f, c)| f == fi && !files[f].selected[c]),
                );
            }
        }
    }
    pulled
}

/// Marks, of the selected chunks, those the analysis can use: only these
/// are parsed. The analysis starts from the functions that take the lock
/// or are promised a hold on entry; a chunk can define one only if it
/// calls a lock-API or assertion entry (one that must be handed the lock,
/// like `down_read`, only in a chunk naming it; an annotation such as
/// `__must_hold(..)` reads as a call) or defines a fault handler or rmap
/// callback (`designated`): the lexical roots. Their contexts come from
/// their callers three levels up (lexically: the chunks that call or hand
/// on a root), and the callees of both run under the hold or give the
/// facts of a call (init helpers, predicates). What else was selected can
/// reach a long operation but no hold reaches it (the callees of a chunk
/// that names the lock only in a comment): on 6.12 mm/ 8 % of the
/// selected bytes. A name links to every selected chunk that defines it
/// (homonyms, prototypes, dead `#if` branches: which one the call graph
/// picks is not known lexically), a superset of the graph's edges, so no
/// function the analysis would reach is left out. Marks only grow: the
/// selection only grows between rounds, and the callees the analysis
/// pulls in are marked by [`pull_missing`].
pub(super) fn mark_analyzed(
    files: &mut [LoadedFile],
    index: &NameIndex,
    designated: &dyn Fn(&str) -> bool,
    cat: &Catalogue,
    parse_all: bool,
) -> Marked {
    if parse_all {
        for f in files.iter_mut() {
            f.analyzed.clone_from(&f.selected);
        }
        return Marked::default();
    }
    // The selected chunks, numbered; per file, chunk -> number.
    let mut chunks: Vec<(usize, usize)> = Vec::new();
    let ids: Vec<Option<Vec<u32>>> = files
        .iter()
        .enumerate()
        .map(|(fi, f)| {
            f.selected.contains(&true).then(|| {
                f.selected
                    .iter()
                    .enumerate()
                    .map(|(ci, &s)| {
                        if !s {
                            return u32::MAX;
                        }
                        chunks.push((fi, ci));
                        (chunks.len() - 1) as u32
                    })
                    .collect()
            })
        })
        .collect();
    let id_of = |&(fi, ci): &(usize, usize)| -> Option<u32> {
        let id = *ids.get(fi)?.as_ref()?.get(ci)?;
        (id != u32::MAX).then_some(id)
    };
    let mut callees: Vec<Vec<u32>> = vec![Vec::new(); chunks.len()];
    let mut callers: Vec<Vec<u32>> = vec![Vec::new(); chunks.len()];
    let mut marked = vec![false; chunks.len()];
    let mut stack: Vec<u32> = Vec::new();
    for (id, &(fi, ci)) in chunks.iter().enumerate() {
        let scan = &files[fi].scan;
        for name in scan.calls[ci].iter().chain(scan.passed(ci)) {
            for to in index.get(name).iter().filter_map(id_of) {
                callees[id].push(to);
                callers[to as usize].push(id as u32);
            }
        }
        // An API entry that must be handed the lock (`down_read(&mm->mmap_lock)`)
        // counts only in a chunk that names it.
        let names_lock = scan.chunk_names_lock.get(ci).copied().unwrap_or(false);
        let root = scan.calls[ci].iter().any(|c| {
            cat.lock_api
                .get(c)
                .map(|e| e.match_arg)
                .or_else(|| cat.assertions.get(c).map(|a| a.match_arg))
                .is_some_and(|match_arg| names_lock || !match_arg)
        }) || scan.defs[ci].iter().any(|d| designated(d));
        if root {
            marked[id] = true;
            stack.push(id as u32);
        }
    }
    let roots = stack.len();
    // The roots and their callers, [`CONTEXT_LEVELS`] up (where a root's
    // contexts come from: [`crate::summary::Program::contexts`]).
    for _ in 0..CONTEXT_LEVELS {
        for id in std::mem::take(&mut stack) {
            for &c in &callers[id as usize] {
                if !marked[c as usize] {
                    marked[c as usize] = true;
                    stack.push(c);
                }
            }
        }
    }
    let with_callers = marked.iter().filter(|m| **m).count();
    // And what they call, and what the earlier rounds analyzed calls
    // (the callees the analysis reached under a write hold were pulled in).
    for (id, &(fi, ci)) in chunks.iter().enumerate() {
        marked[id] |= files[fi].analyzed[ci];
    }
    stack.extend((0..chunks.len() as u32).filter(|&id| marked[id as usize]));
    while let Some(id) = stack.pop() {
        for &c in &callees[id as usize] {
            if !marked[c as usize] {
                marked[c as usize] = true;
                stack.push(c);
            }
        }
    }
    let figures = Marked {
        selected: chunks.len(),
        roots,
        with_callers,
        analyzed: marked.iter().filter(|m| **m).count(),
    };
    for (&(fi, ci), m) in chunks.iter().zip(marked) {
        files[fi].analyzed[ci] |= m;
    }
    figures
}

/// What [`mark_analyzed`] found, in selected chunks (for traces).
#[derive(Debug, Default)]
pub(super) struct Marked {
    pub selected: usize,
    /// Chunks that may take the lock or be promised a hold.
    pub roots: usize,
    /// Those and their callers.
    pub with_callers: usize,
    /// Those and everything they call: the chunks parsed.
    pub analyzed: usize,
}
