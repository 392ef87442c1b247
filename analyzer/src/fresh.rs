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

/// Called at each call with the fresh variables there.
type AtCall<'a> = dyn FnMut(CallId, &[u64]) + 'a;

/// Marks the calls whose first argument holds a fresh allocation.
pub fn mark_calls_on_fresh_objects(cfg: &Cfg, calls: &mut [CallSite], vars: &[String], cat: &Catalogue) {
    let allocators = &cat.fault_path.fresh_allocators;
    let is_allocation = |value: &Value| match value {
        Value::CallResult(c) => calls.get(*c as usize).is_some_and(|call| allocators.contains(&call.callee)),
        _ => false,
    };
    // Most functions allocate nothing: no analysis.
    let allocating = cfg.nodes.iter().flat_map(|n| &n.events).any(|ev| matches!(ev, Event::Assign { value, .. } if is_allocation(value)));
    if !allocating {
        return;
    }
    // Per node, the variables fresh on entry (`None`: not reached yet, the
    // top of the must-lattice), as a bit per variable.
    let words = vars.len().div_ceil(64).max(1);
    let mut fresh_in: Vec<Option<Vec<u64>>> = vec![None; cfg.nodes.len()];
    fresh_in[cfg.entry as usize] = Some(vec![0; words]);
    let transfer = |node: &Node, state: &mut Vec<u64>, mut at_call: Option<&mut AtCall>| {
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
                Event::Call(cid) => {
                    if let Some(f) = at_call.as_deref_mut() {
                        f(*cid, state)
                    }
                }
            }
        }
    };
    let mut worklist = vec![cfg.entry];
    while let Some(n) = worklist.pop() {
        let Some(mut state) = fresh_in[n as usize].clone() else { continue };
        transfer(&cfg.nodes[n as usize], &mut state, None);
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
    for (n, node) in cfg.nodes.iter().enumerate() {
        let Some(mut state) = fresh_in[n].clone() else { continue };
        let mut check = |cid: CallId, state: &[u64]| {
            let Some(call) = calls.get(cid as usize) else { return };
            let Some(var) = call.args.first().and_then(|a| normalize_path(a)).and_then(|p| vars.iter().position(|v| *v == p)) else {
                return;
            };
            if state[var / 64] & (1 << (var % 64)) != 0 {
                on_fresh.push(cid);
            }
        };
        transfer(node, &mut state, Some(&mut check));
    }
    for cid in on_fresh {
        if let Some(call) = calls.get_mut(cid as usize) {
            call.on_fresh_object = true;
        }
    }
}
