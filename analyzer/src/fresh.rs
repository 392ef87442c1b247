//! Objects a function has just allocated.
//!
//! `folio_lock(folio)` waits for whoever holds the folio's lock, typically
//! I/O — unless `folio` is a folio this function has just allocated: nobody
//! else can hold it yet (`hugetlb_no_page()` allocates a huge folio, then
//! locks it before mapping it). A forward must-analysis over the CFG finds,
//! at each call, the variables that hold the result of a catalogue
//! allocator (`[fault_path] fresh_allocators`) on every path; a call whose
//! first argument is one of them is marked [`CallSite::on_fresh_object`] and
//! is not a wait.

use crate::catalogue::Catalogue;
use crate::ir::*;

/// Marks the calls whose first argument holds a fresh allocation.
pub fn mark_calls_on_fresh_objects(
    cfg: &Cfg,
    calls: &mut [CallSite],
    vars: &[String],
    cat: &Catalogue,
) {
    let allocates: Vec<bool> = calls
        .iter()
        .map(|c| cat.fault_path.fresh_allocators.contains(&c.callee))
        .collect();
    // Most functions allocate nothing: no analysis.
    if !allocates.contains(&true) {
        return;
    }
    let is_allocation = |value: &Value| matches!(value, Value::CallResult(c) if allocates.get(*c as usize) == Some(&true));
    // The variable each call's first argument names, if any.
    let first_arg: Vec<Option<usize>> = calls
        .iter()
        .map(|c| {
            c.args
                .first()
                .and_then(|a| normalize_path(a))
                .and_then(|p| vars.iter().position(|v| *v == p))
        })
        .collect();
    // A node's events over the fresh set (a bit per variable); `at_call`
    // sees the set at each call.
    let run = |node: &Node, state: &mut [u64], at_call: &mut dyn FnMut(CallId, &[u64])| {
        for ev in &node.events {
            match ev {
                Event::Assign { var, value } => {
                    let (w, b) = (*var as usize / 64, *var as usize % 64);
                    if is_allocation(value) {
                        state[w] |= 1 << b;
                    } else {
                        state[w] &= !(1 << b);
                    }
                }
                Event::Call(cid) => at_call(*cid, state),
            }
        }
    };
    // Per node, the variables fresh on entry (`None`: not reached yet, the
    // top of the must-lattice).
    let words = vars.len().div_ceil(64).max(1);
    let mut fresh_in: Vec<Option<Vec<u64>>> = vec![None; cfg.nodes.len()];
    fresh_in[cfg.entry as usize] = Some(vec![0; words]);
    let mut worklist = vec![cfg.entry];
    while let Some(n) = worklist.pop() {
        let Some(mut state) = fresh_in[n as usize].clone() else {
            continue;
        };
        run(&cfg.nodes[n as usize], &mut state, &mut |_, _| {});
        for &succ in &cfg.nodes[n as usize].succ {
            let merged = match &fresh_in[succ as usize] {
                None => state.clone(),
                Some(old) => old.iter().zip(&state).map(|(a, b)| a & b).collect(),
            };
            if fresh_in[succ as usize].as_ref() != Some(&merged) {
                fresh_in[succ as usize] = Some(merged);
                worklist.push(succ);
            }
        }
    }
    let mut on_fresh: Vec<CallId> = Vec::new();
    for (node, state) in cfg.nodes.iter().zip(&fresh_in) {
        let Some(mut state) = state.clone() else {
            continue;
        };
        run(node, &mut state, &mut |cid, state| {
            if first_arg
                .get(cid as usize)
                .copied()
                .flatten()
                .is_some_and(|v| state[v / 64] & (1 << (v % 64)) != 0)
            {
                on_fresh.push(cid);
            }
        });
    }
    for cid in on_fresh {
        if let Some(call) = calls.get_mut(cid as usize) {
            call.on_fresh_object = true;
        }
    }
}
