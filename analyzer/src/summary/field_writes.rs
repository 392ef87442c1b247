//! Which fields of its pointer arguments a function may write, in its own
//! body or through the functions it calls (`shrink_inactive_list(.., sc, ..)`
//! → `set_reclaim_mode(priority, sc, true)` → `sc->mode = mode`): a caller's
//! constant for such a field holds no longer once the function is called.
//! A function's own stores keep their sources (init helpers give their
//! constants, as before); stores of its callees, seen from its callers, are
//! unknown values.

use std::collections::HashMap;
use std::rc::Rc;

use super::{FnId, Program};
use crate::ir::*;

/// Fields deeper than this (`a.b.c.d.e`, grown through a recursion that
/// passes `&p->next`) are not followed upwards.
const MAX_FIELD_DOTS: usize = 4;

impl Program<'_> {
    /// Every store `fid` may make, itself or through its callees, into the
    /// objects its parameters point to. Memoized; a cycle group is solved
    /// as a whole, to its fixed point.
    pub(super) fn field_writes(&self, fid: FnId) -> Rc<Vec<FieldStore>> {
        if let Some(w) = self.field_writes_memo.borrow().get(&fid) {
            return w.clone();
        }
        let group = self.graph.group[fid as usize];
        if !self.graph.cyclic[group as usize] {
            let w = Rc::new(self.writes_through_calls(fid, &|g| self.field_writes(g)));
            self.field_writes_memo.borrow_mut().insert(fid, w.clone());
            return w;
        }
        let members: Vec<FnId> = (0..self.functions.len() as FnId)
            .filter(|&g| self.graph.group[g as usize] == group)
            .collect();
        // Callees outside the group first (no recursion while iterating).
        for &m in &members {
            for g in self.graph.resolved[m as usize].iter().flatten() {
                if self.graph.group[*g as usize] != group {
                    self.field_writes(*g);
                }
            }
        }
        let mut current: HashMap<FnId, Rc<Vec<FieldStore>>> = members
            .iter()
            .map(|&m| (m, Rc::new(self.function(m).field_stores.clone())))
            .collect();
        loop {
            let mut changed = false;
            for &m in &members {
                let next = {
                    let lookup = |g: FnId| match current.get(&g) {
                        Some(w) => w.clone(),
                        None => self.field_writes(g),
                    };
                    self.writes_through_calls(m, &lookup)
                };
                if *current[&m] != next {
                    current.insert(m, Rc::new(next));
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let mut memo = self.field_writes_memo.borrow_mut();
        for (m, w) in current {
            memo.insert(m, w);
        }
        memo[&fid].clone()
    }

    /// `fid`'s own stores and those of its callees (`callee_writes`) that
    /// land in what its parameters point to, sorted and deduplicated.
    fn writes_through_calls(
        &self,
        fid: FnId,
        callee_writes: &dyn Fn(FnId) -> Rc<Vec<FieldStore>>,
    ) -> Vec<FieldStore> {
        let f = self.function(fid);
        let mut out = f.field_stores.clone();
        // An argument path rooted at a parameter: (parameter, field path).
        let param_path = |arg: &str| -> Option<(usize, Option<String>)> {
            let arg = normalize_path(arg)?;
            let (base, rest) = match arg.split_once('.') {
                Some((b, r)) => (b, Some(r.to_string())),
                None => (arg.as_str(), None),
            };
            let param = f.params.iter().position(|p| !p.is_empty() && p == base)?;
            Some((param, rest))
        };
        for (cid, call) in f.calls.iter().enumerate() {
            // A callee with no definition in view is taken to write nothing
            // (see `local_facts`).
            let Some(g) = self.graph.resolved[fid as usize][cid] else {
                continue;
            };
            let writes = callee_writes(g);
            for store in writes.iter() {
                let Some((param, rest)) = call.args.get(store.param).and_then(|a| param_path(a))
                else {
                    continue;
                };
                let field = match rest {
                    Some(r) => format!("{r}.{}", store.field),
                    None => store.field.clone(),
                };
                if field.matches('.').count() > MAX_FIELD_DOTS {
                    continue;
                }
                // A store further down only ends what a caller knew: a
                // constant stored there (`list_del(&mm->mmlist)` inside
                // `mmput(mm)` poisoning `mm->mmlist.next`) would otherwise be
                // taken, flow-insensitively, for the caller's whole body.
                // A bit step is the same step seen from any caller.
                let source = match store.source {
                    StoreSource::Bits(op) => StoreSource::Bits(op),
                    _ => StoreSource::Unknown,
                };
                out.push(FieldStore {
                    param,
                    field,
                    source,
                });
            }
        }
        out.sort();
        out.dedup();
        out
    }
}
