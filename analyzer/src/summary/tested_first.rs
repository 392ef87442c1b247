//! Fields behind parameters that a function tests before it assigns them
//! (`if (!vms->clear_ptes) return; ... vms->clear_ptes = false;`): the
//! flow-insensitive [`Program::local_facts`] takes a field assigned in the
//! body for its assigned value throughout, which there would decide the
//! test at the top by the value stored at the bottom; for these fields the
//! caller's value counts too.

use std::rc::Rc;

use super::{FnId, Program};
use crate::ir::*;

impl Program<'_> {
    /// [`tested_before_assigned`], memoized.
    pub(super) fn tested_first(&self, fid: FnId) -> Rc<Vec<VarId>> {
        if let Some(t) = self.tested_first_memo.borrow().get(&fid) {
            return t.clone();
        }
        let t = Rc::new(tested_before_assigned(self.function(fid)));
        self.tested_first_memo.borrow_mut().insert(fid, t.clone());
        t
    }
}

/// The fields behind parameters that the function assigns itself and also
/// tests on a path from its entry before any assignment of them
/// (`if (!vms->clear_ptes) return; ... vms->clear_ptes = false;`): there
/// the test sees the caller's value, not the one assigned below, so
/// [`Program::local_facts`] counts the entry value too. (A test after the
/// assignment, `gup_flags |= FOLL_GET` then `if (gup_flags & ..)`, sees
/// only what was assigned.)
fn tested_before_assigned(f: &Function) -> Vec<VarId> {
    let mut out = Vec::new();
    let n = f.cfg.nodes.len();
    for (var, name) in f.vars.iter().enumerate() {
        let var = var as VarId;
        let Some((base, _)) = name.split_once('.') else {
            continue;
        };
        if !f.params.iter().any(|p| !p.is_empty() && p == base) {
            continue;
        }
        let assigns = |node: &Node| {
            node.events
                .iter()
                .any(|e| matches!(e, Event::Assign { var: v, .. } if *v == var))
        };
        if !f.cfg.nodes.iter().any(assigns) {
            continue;
        }
        let tests = |node: &Node| {
            node.branch.as_ref().is_some_and(|b| b.reads(var))
                || node.switch.as_ref().is_some_and(|(s, _)| s.reads(var))
        };
        let mut seen = vec![false; n];
        let mut work = vec![f.cfg.entry as usize];
        let mut found = false;
        while let Some(i) = work.pop() {
            if i >= n || seen[i] {
                continue;
            }
            seen[i] = true;
            let node = &f.cfg.nodes[i];
            // The node's events run before its branch.
            if assigns(node) {
                continue;
            }
            if tests(node) {
                found = true;
                break;
            }
            work.extend(node.succ.iter().map(|&s| s as usize));
        }
        if found {
            out.push(var);
        }
    }
    out
}
