//! Calls whose result is the same for the same argument throughout one
//! operation (`[stable]` in the catalogue: `IS_DAX(inode)`,
//! `file_inode(file)`): a branch on one decides the same test in the
//! functions called under it. `xfs_filemap_huge_fault()` returns unless
//! `IS_DAX(file_inode(vmf->vma->vm_file))`, so the `IS_DAX(inode)` of the
//! write fault it calls (`inode = file_inode(vmf->vma->vm_file)`) is true
//! there, and its page-cache branch is dead.
//!
//! A call's result gets a key naming the call on a path rooted at a
//! parameter (`vmf.vma.vm_file.@file_inode.@IS_DAX`), so it maps into
//! callees like a field of the argument ([`Program::callee_env`]).

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use super::{FnId, Program};
use crate::ir::*;
use crate::lockstate::ConstMap;

/// What one function's stable calls give: per call, its key (when its
/// argument is rooted at a parameter) and the keyed conditions that hold
/// where it is made (branches that dominate it).
#[derive(Default)]
pub(super) struct StableCalls {
    pub keys: Vec<Option<String>>,
    pub at_call: Vec<Vec<(String, i64)>>,
}

/// The key that marks a context holding implications (`p=>key`), so
/// asking whether one does costs one lookup, not a scan of the context.
pub(super) const IMPLICATIONS: &str = "=>";

pub(super) fn has_implications(facts: &ConstMap) -> bool {
    facts.contains_key(IMPLICATIONS)
}

/// Locals followed to their one definition (`inode = file_inode(..)`).
const MAX_KEY_DEPTH: u32 = 4;

impl Program<'_> {
    /// The stable calls of `fid`, and the conditions on them (and, with
    /// `params`, on its parameters' truth) that hold at each call. Without
    /// `params` a function that makes no stable call has none (most: the
    /// cheap answer); with it (a context says what a parameter's truth
    /// implies) its branches are read in any case.
    pub(super) fn stable_calls(&self, fid: FnId, params: bool) -> Rc<StableCalls> {
        let f = self.function(fid);
        let has_stable = f
            .calls
            .iter()
            .any(|c| c.catalogued.stable || c.catalogued.fact_keyed);
        if !has_stable && !params {
            return self.no_stable_calls.clone();
        }
        if let Some(s) = self.stable_memo.borrow().get(&fid) {
            return s.clone();
        }
        let s = Rc::new(self.stable_calls_uncached(fid));
        self.stable_memo.borrow_mut().insert(fid, s.clone());
        s
    }

    fn stable_calls_uncached(&self, fid: FnId) -> StableCalls {
        let f = self.function(fid);
        let keys: Vec<Option<String>> = (0..f.calls.len())
            .map(|c| call_key(self, f, c as CallId, 0))
            .collect();
        let mut at_call = vec![Vec::new(); f.calls.len()];
        // Branches on keyed results: the nodes each edge dominates learn the
        // condition's outcome.
        // A stable call's result, or (`?name`) the truth of a parameter,
        // which a caller may have passed as a condition on stable calls
        // (`write_fault = IS_DAX(..) && ..`: [`Program::callee_env`]).
        let param_keys: Vec<Option<String>> = f
            .vars
            .iter()
            .map(|n| f.params.iter().any(|q| q == n).then(|| format!("?{n}")))
            .collect();
        // Only `[stable]` results: a result keyed for `[call_facts]` alone
        // may change under the branch (a hugetlb folio being dissolved).
        let key_of_var = |v: VarId| -> Option<&String> {
            match f.calls.iter().position(|c| c.result_var == v) {
                Some(c) if f.calls[c].catalogued.stable => keys[c].as_ref(),
                Some(_) => None,
                None => param_keys.get(v as usize)?.as_ref(),
            }
        };
        let mut preds = vec![0u32; f.cfg.nodes.len()];
        for n in &f.cfg.nodes {
            for &s in &n.succ {
                preds[s as usize] += 1;
            }
        }
        let call_node: Vec<(usize, CallId)> = f
            .cfg
            .nodes
            .iter()
            .enumerate()
            .flat_map(|(i, n)| {
                n.events.iter().filter_map(move |e| match e {
                    Event::Call(c) => Some((i, *c)),
                    _ => None,
                })
            })
            .collect();
        for n in &f.cfg.nodes {
            let (Some(cond), [t, e]) = (&n.branch, n.succ.as_slice()) else {
                continue;
            };
            if n.switch.is_some() {
                continue;
            }
            for (succ, truth) in [(*t, true), (*e, false)] {
                let mut learned = Vec::new();
                learn(cond, truth, &key_of_var, &mut learned);
                if learned.is_empty() || preds[succ as usize] != 1 {
                    continue;
                }
                let dominated = dominated_by(&f.cfg, succ);
                for &(node, c) in &call_node {
                    if dominated.contains(&(node as NodeId)) {
                        at_call[c as usize].extend(learned.iter().cloned());
                    }
                }
            }
        }
        StableCalls { keys, at_call }
    }

    /// A call no path reaches in this context: the conditions on stable
    /// calls that dominate it contradict each other or what the context
    /// says (6.1 `__xfs_filemap_fault()`: `iomap_page_mkwrite()` sits under
    /// `!IS_DAX(inode)` and `write_fault`, which its caller made imply
    /// `IS_DAX`).
    pub(super) fn call_infeasible(&self, fid: FnId, cid: CallId, facts: &ConstMap) -> bool {
        let stable = self.stable_calls(fid, has_implications(facts));
        let Some(known) = stable.at_call.get(cid as usize).filter(|k| !k.is_empty()) else {
            return false;
        };
        let mut seen: HashMap<String, bool> = HashMap::new();
        let mut contradicts = |k: &str, v: i64| {
            let truth = v != 0;
            if facts.get(k).is_some_and(|x| (*x != 0) != truth) {
                return true;
            }
            *seen.entry(k.to_string()).or_insert(truth) != truth
        };
        for (k, v) in known {
            match k.strip_prefix('?') {
                Some(p) if *v == 1 => {
                    let pre = format!("{p}=>");
                    for (fk, fv) in facts {
                        if let Some(key) = fk.strip_prefix(&pre) {
                            if contradicts(key, *fv) {
                                return true;
                            }
                        }
                    }
                }
                Some(_) => {}
                None => {
                    if contradicts(k, *v) {
                        return true;
                    }
                }
            }
        }
        false
    }

    /// What a condition passed as an argument implies when it is true, on
    /// stable calls of the caller (`IS_DAX(file_inode(vmf->vma->vm_file))
    /// && is_write(vmf)` implies the `IS_DAX` key).
    pub(super) fn implied_keys(&self, fid: FnId, cond: &Expr) -> Vec<(String, i64)> {
        let f = self.function(fid);
        let stable = self.stable_calls(fid, false);
        let key_of_var = |v: VarId| -> Option<&String> {
            let c = f.calls.iter().position(|c| c.result_var == v)?;
            stable.keys.get(c)?.as_ref()
        };
        let mut out = Vec::new();
        learn(cond, true, &key_of_var, &mut out);
        out
    }
}

/// The key of a stable call's result: its callee applied to its one
/// argument's key.
fn call_key(p: &Program, f: &Function, c: CallId, depth: u32) -> Option<String> {
    let call = &f.calls[c as usize];
    if !(call.catalogued.stable || call.catalogued.fact_keyed) || call.arg_values.len() != 1 {
        return None;
    }
    let arg = value_key(p, f, &call.arg_values[0], depth)?;
    Some(format!("{arg}.@{}", call.callee))
}

/// The key of a value: a path rooted at a parameter, a local's one
/// definition, or a stable call's result.
fn value_key(p: &Program, f: &Function, v: &Value, depth: u32) -> Option<String> {
    if depth > MAX_KEY_DEPTH {
        return None;
    }
    match v {
        Value::CallResult(c) => call_key(p, f, *c, depth + 1),
        Value::Path(path) => {
            let (base, rest) = match path.split_once('.') {
                Some((b, r)) => (b, Some(r)),
                None => (path.as_str(), None),
            };
            if f.params.iter().any(|q| q == base) {
                return Some(path.clone());
            }
            // A local with exactly one definition.
            let var = f.var_id(base)?;
            let mut defs = f
                .cfg
                .nodes
                .iter()
                .flat_map(|n| &n.events)
                .filter_map(|e| match e {
                    Event::Assign { var: v, value } if *v == var => Some(value),
                    _ => None,
                });
            let (Some(def), None) = (defs.next(), defs.next()) else {
                return None;
            };
            let key = value_key(p, f, def, depth + 1)?;
            Some(match rest {
                Some(r) => format!("{key}.{r}"),
                None => key,
            })
        }
        _ => None,
    }
}

/// Keyed outcomes a condition has on the edge where it is `truth`.
fn learn<'k>(
    cond: &Expr,
    truth: bool,
    key_of_var: &dyn Fn(VarId) -> Option<&'k String>,
    out: &mut Vec<(String, i64)>,
) {
    match cond {
        Expr::Var(v) => {
            if let Some(k) = key_of_var(*v) {
                out.push((k.clone(), i64::from(truth)));
            }
        }
        Expr::Not(a) => learn(a, !truth, key_of_var, out),
        Expr::And(a, b) if truth => {
            learn(a, true, key_of_var, out);
            learn(b, true, key_of_var, out);
        }
        Expr::Or(a, b) if !truth => {
            learn(a, false, key_of_var, out);
            learn(b, false, key_of_var, out);
        }
        _ => {}
    }
}

/// The nodes `d` dominates: reachable from the entry, but not without it.
fn dominated_by(cfg: &Cfg, d: NodeId) -> HashSet<NodeId> {
    let reach = |skip: Option<NodeId>| {
        let mut seen = vec![false; cfg.nodes.len()];
        let mut stack = vec![cfg.entry];
        while let Some(n) = stack.pop() {
            if Some(n) == skip || std::mem::replace(&mut seen[n as usize], true) {
                continue;
            }
            stack.extend(cfg.nodes[n as usize].succ.iter().copied());
        }
        seen
    };
    let (all, without) = (reach(None), reach(Some(d)));
    (0..cfg.nodes.len() as NodeId)
        .filter(|&n| all[n as usize] && !without[n as usize])
        .collect()
}
