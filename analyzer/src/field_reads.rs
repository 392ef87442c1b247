//! Which fields of its parameters a function may read, itself or through
//! the functions it hands them to: a caller's constant for any other field
//! cannot change what the function does, so a context does not carry it
//! ([`crate::summary`]'s callee contexts). Without this, every field a
//! caller knows (the zeroes of a kzalloc'ed object) travels down into
//! `kmem_cache_free(s, x)` and makes one context per caller, and a call
//! cycle under it is analyzed again for each.
//!
//! Over-approximated: a path read, assigned or handed on (`x.a`) keeps the
//! keys on the way to it (`x.a`, the wildcards `x.*` and `x.a.*`; a whole
//! parameter is never left out); a callee whose reads are unknown (more
//! than [`MAX_READS`]) keeps everything under what it is handed, and so
//! does a path cut at [`MAX_DOTS`]. Keys that are not plain fields (stable
//! calls `@`, implications `=>`, parameters' truth `?`) are always kept.

use std::collections::BTreeSet;

use crate::ir::{Event, Function, Value};

/// A function's index in the program (`crate::callgraph::FnId`; this
/// module sits below the call graph, which computes the reads).
type FnId = u32;

/// More read paths than this in one function: taken as "any field".
const MAX_READS: usize = 256;
/// Paths longer than this are cut to it (a prefix keeps everything under it).
const MAX_DOTS: usize = 6;

/// The call graph's groups, as the reads are worked out over them.
pub(crate) struct CallGroups<'g> {
    /// Per function, its group.
    pub of: &'g [u32],
    /// Per group, its members; callees' groups come before their callers'.
    pub members: &'g [Vec<FnId>],
    /// Per group: whether it has a cycle.
    pub cyclic: &'g [bool],
    /// Per function, every function it may run (calls and callbacks).
    pub callees: &'g [Vec<Option<FnId>>],
}

/// Per function: the paths rooted at its parameters it may read, or `None`
/// (any).
pub(crate) type FieldReads = Vec<Option<BTreeSet<String>>>;

/// The reads of every function, callees first (the call graph's `groups`:
/// a callee's group before its callers'), a cyclic group to its fixed
/// point. `edges(f, c)` lists the functions call `c` of `f` may run (the
/// resolved callee, the callbacks a walker is handed).
///
/// Groups whose callees' groups are all done are worked out together, on
/// every core: a group's reads depend on its callees' only, so the result
/// is the one of a walk in `groups` order.
pub(crate) fn field_reads(
    functions: &[std::sync::Arc<Function>],
    groups: &CallGroups,
    edges: &(dyn Fn(FnId, usize) -> Vec<FnId> + Sync),
) -> FieldReads {
    use rayon::prelude::*;
    let CallGroups {
        of: group_of,
        members: groups,
        cyclic,
        callees,
    } = groups;
    // A group's level: one above its callees' highest (callees come first).
    let mut level = vec![0usize; groups.len()];
    for (gi, members) in groups.iter().enumerate() {
        let mut l = 0;
        for &m in members.iter() {
            for &g in callees[m as usize].iter().flatten() {
                let cg = group_of[g as usize] as usize;
                if cg != gi {
                    l = l.max(level[cg] + 1);
                }
            }
        }
        level[gi] = l;
    }
    let mut by_level: Vec<Vec<usize>> = Vec::new();
    for (gi, &l) in level.iter().enumerate() {
        if by_level.len() <= l {
            by_level.resize_with(l + 1, Vec::new);
        }
        by_level[l].push(gi);
    }
    let mut reads: FieldReads = vec![Some(BTreeSet::new()); functions.len()];
    for level_groups in &by_level {
        let done: Vec<Vec<(FnId, Option<BTreeSet<String>>)>> = level_groups
            .par_iter()
            .map(|&gi| group_reads(functions, &groups[gi], cyclic[gi], &reads, edges))
            .collect();
        for (m, r) in done.into_iter().flatten() {
            reads[m as usize] = r;
        }
    }
    reads
}

/// One group's reads, its members in order, to the fixed point when it is
/// `cyclic`; `reads` holds its callees' (the other groups').
fn group_reads(
    functions: &[std::sync::Arc<Function>],
    members: &[FnId],
    cyclic: bool,
    reads: &FieldReads,
    edges: &dyn Fn(FnId, usize) -> Vec<FnId>,
) -> Vec<(FnId, Option<BTreeSet<String>>)> {
    let mut own: Vec<(FnId, Option<BTreeSet<String>>)> = members
        .iter()
        .map(|&m| (m, Some(BTreeSet::new())))
        .collect();
    loop {
        let mut changed = false;
        for i in 0..own.len() {
            let m = own[i].0;
            let get = |g: FnId| match own.iter().find(|(o, _)| *o == g) {
                Some((_, r)) => r.as_ref(),
                None => reads.get(g as usize).and_then(Option::as_ref),
            };
            let next = reads_of(functions, m, &get, edges);
            if own[i].1 != next {
                own[i].1 = next;
                changed = true;
            }
        }
        if !changed || !cyclic {
            return own;
        }
    }
}

/// The root of a path (`x` of `x.a.b`), when it is a parameter.
fn param_root<'a>(f: &Function, path: &'a str) -> Option<&'a str> {
    let root = path.split('.').next()?;
    f.params
        .iter()
        .any(|p| !p.is_empty() && p == root)
        .then_some(root)
}

fn cut(path: &str) -> String {
    match path.match_indices('.').nth(MAX_DOTS) {
        Some((i, _)) => path[..i].to_string(),
        None => path.to_string(),
    }
}

fn path_of(v: &Value) -> Option<&str> {
    match v {
        Value::Path(p) | Value::OrBits(p, _) | Value::BitsOf(p, _) => Some(p),
        _ => None,
    }
}

/// The mark of a subtree read: everything under the path.
const SUBTREE: &str = ".**";

fn reads_of<'r>(
    functions: &[std::sync::Arc<Function>],
    fid: FnId,
    reads: &dyn Fn(FnId) -> Option<&'r BTreeSet<String>>,
    edges: &dyn Fn(FnId, usize) -> Vec<FnId>,
) -> Option<BTreeSet<String>> {
    let f = &functions[fid as usize];
    let mut out = BTreeSet::new();
    let mut add = |p: &str, subtree: bool| {
        if param_root(f, p).is_some() {
            let mut kept = cut(p);
            // A path cut short keeps everything under what is left.
            if subtree || kept.len() < p.len() {
                kept.push_str(SUBTREE);
            }
            out.insert(kept);
        }
    };
    // Read in conditions and values, or assigned (`x->a = ..` is a
    // variable too); copied into a local.
    for v in &f.vars {
        add(v, false);
    }
    for node in &f.cfg.nodes {
        for ev in &node.events {
            if let Event::Assign { value, .. } = ev {
                if let Some(p) = path_of(value) {
                    add(p, false);
                }
            }
        }
    }
    // Handed to a callee: the argument's value, and what the callee reads
    // of its parameter under the argument's path (all of it when the
    // callee's reads are unknown).
    for (ci, call) in f.calls.iter().enumerate() {
        let callees = edges(fid, ci);
        for (j, arg) in call.arg_values.iter().enumerate() {
            let Some(p) = path_of(arg) else { continue };
            if param_root(f, p).is_none() {
                continue;
            }
            add(p, false);
            for &g in &callees {
                let Some(q) = functions[g as usize]
                    .params
                    .get(j)
                    .filter(|q| !q.is_empty())
                else {
                    continue;
                };
                let Some(greads) = reads(g) else {
                    add(p, true);
                    continue;
                };
                for r in greads {
                    let (path, subtree) = match r.strip_suffix(SUBTREE) {
                        Some(base) => (base, true),
                        None => (r.as_str(), false),
                    };
                    if let Some(rest) = path.strip_prefix(q.as_str()) {
                        if rest.is_empty() || rest.starts_with('.') {
                            add(&format!("{p}{rest}"), subtree);
                        }
                    }
                }
            }
        }
    }
    (out.len() <= MAX_READS).then_some(out)
}

/// `inner` is `outer` or a field under it.
fn at_or_under(inner: &str, outer: &str) -> bool {
    inner == outer
        || (inner.len() > outer.len()
            && inner.starts_with(outer)
            && inner.as_bytes()[outer.len()] == b'.')
}

/// Whether a context key of `f` can matter to it: not a field of one of
/// its parameters, or a field on the way to a path it may read, or under
/// a subtree it may read.
pub(crate) fn key_is_read(f: &Function, reads: Option<&BTreeSet<String>>, key: &str) -> bool {
    let Some(reads) = reads else { return true };
    // Keys that are not plain fields of a parameter: kept.
    if key.contains(['@', '?', '$', '=']) || !key.contains('.') || param_root(f, key).is_none() {
        return true;
    }
    // `x.a.*` (the zeroes of an object) stands for every field under `x.a`.
    let base = key.strip_suffix(".*").unwrap_or(key);
    reads.iter().any(|r| match r.strip_suffix(SUBTREE) {
        Some(tree) => at_or_under(base, tree) || at_or_under(tree, base),
        None => at_or_under(r, base),
    })
}
