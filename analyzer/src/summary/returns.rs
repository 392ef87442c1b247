//! What a callee returns, read from its body once per program: the one
//! constant a static helper of the caller's file returns on every path
//! (5.4 `detach_vmas_to_be_unmapped()` once `[assume_clear]` takes its
//! grows-down tests as 0), and whether it returns zeroed
//! memory (`[zeroing_allocators]` and their wrappers: 6.12 `btrfs_alloc_path()`).

use super::contexts::live_nodes;
use super::{FnId, Program};
use crate::ir::*;
use crate::lockstate::Consts;

/// Wrappers of zeroing allocators followed ([`Program::returns_zeroed`]).
const MAX_ZEROING_DEPTH: u32 = 2;

impl Program<'_> {
    /// The one constant a function of the caller's file returns whatever
    /// its context (5.4 `detach_vmas_to_be_unmapped()` returns true once
    /// the grows-down test is assumed clear), when it is static (the call
    /// binds to it: a global one may be a `__weak` default another file
    /// overrides) and parsed whole. Read without facts: its
    /// parameters' values are unknown, so only branches on constants
    /// (`x & VM_GROWSDOWN` taken as 0) are decided, and only constant
    /// `return`s count.
    pub(super) fn constant_return(&self, caller: FnId, g: FnId) -> Option<i64> {
        let f = self.function(g);
        if g == caller || f.file != self.function(caller).file || !f.is_static || f.has_parse_error
        {
            return None;
        }
        if let Some(v) = self.constant_return_memo.borrow().get(&g) {
            return *v;
        }
        let by_var = vec![None; f.vars.len()];
        let consts = Consts {
            by_var: &by_var,
            macros: self.macros,
        };
        let value = one_returned_value(f, &consts, |v| match v {
            Value::Const(c) => Some(*c),
            _ => None,
        });
        self.constant_return_memo.borrow_mut().insert(g, value);
        value
    }

    /// The variables `fid` assigns what a zeroing allocator returns.
    pub(super) fn zeroed_vars(&self, fid: FnId) -> std::rc::Rc<Vec<VarId>> {
        if let Some(v) = self.zeroed_vars_memo.borrow().get(&fid) {
            return v.clone();
        }
        let f = self.function(fid);
        let mut out = Vec::new();
        for node in &f.cfg.nodes {
            for ev in &node.events {
                if let Event::Assign {
                    var,
                    value: Value::CallResult(c),
                } = ev
                {
                    if !out.contains(var) && self.returns_zeroed(fid, *c, 0) {
                        out.push(*var);
                    }
                }
            }
        }
        let out = std::rc::Rc::new(out);
        self.zeroed_vars_memo.borrow_mut().insert(fid, out.clone());
        out
    }

    /// Whether call `cid` of `fid` returns zeroed memory: a catalogued
    /// zeroing allocator (`[zeroing_allocators]`), or a function whose every
    /// `return` returns what one returns (`btrfs_alloc_path()`), followed
    /// [`MAX_ZEROING_DEPTH`] deep.
    pub(super) fn returns_zeroed(&self, fid: FnId, cid: CallId, depth: u32) -> bool {
        let f = self.function(fid);
        let Some(call) = f.calls.get(cid as usize) else {
            return false;
        };
        if self.cat.zeroing_allocators.contains_key(&call.callee) {
            return true;
        }
        if depth >= MAX_ZEROING_DEPTH {
            return false;
        }
        let Some(g) = self.graph.resolved[fid as usize][cid as usize] else {
            return false;
        };
        if let Some(z) = self.zeroing_memo.borrow().get(&g) {
            return *z;
        }
        let gf = self.function(g);
        let ret = gf.var_id(RETURN_VAR);
        let mut any = false;
        let mut all = ret.is_some() && !gf.has_parse_error;
        for ev in gf.cfg.nodes.iter().flat_map(|n| &n.events) {
            match ev {
                Event::Assign { var, value } if Some(*var) == ret => match value {
                    Value::CallResult(c) if self.returns_zeroed(g, *c, depth + 1) => any = true,
                    _ => all = false,
                },
                _ => {}
            }
        }
        let z = any && all;
        self.zeroing_memo.borrow_mut().insert(g, z);
        z
    }
}

impl Program<'_> {
    /// `x |= f(..)` where every `return` of `f` is a constant
    /// (`dma_direct_optimal_gfp_mask()`: `GFP_DMA`, `GFP_DMA32` or 0): the
    /// bits x gains, at most the or of their numbers. None when a return
    /// is no constant, or a constant's number is unknown.
    pub(super) fn returned_bits(&self, fid: FnId, cid: CallId) -> Option<crate::symbolic::BitOp> {
        let g = self.graph.resolved[fid as usize][cid as usize]?;
        if let Some(m) = self.returned_bits_memo.borrow().get(&g) {
            return m.map(|m| crate::symbolic::BitOp::Set(m as i64));
        }
        let gf = self.function(g);
        let macro_value = |s| self.macros.value(s);
        let mut or: Option<u64> = gf
            .var_id(RETURN_VAR)
            .filter(|_| !gf.has_parse_error)
            .map(|_| 0);
        for ev in gf.cfg.nodes.iter().flat_map(|n| &n.events) {
            if let Event::Assign { var, value } = ev {
                if Some(*var) != gf.var_id(RETURN_VAR) {
                    continue;
                }
                let bits = match value {
                    Value::Const(c) => match crate::symbolic::bits_known(*c, &macro_value) {
                        Some(crate::symbolic::Bits::Exact(n)) if n < 1 << 40 => Some(n),
                        _ => None,
                    },
                    _ => None,
                };
                or = or.zip(bits).map(|(a, b)| a | b);
            }
        }
        self.returned_bits_memo.borrow_mut().insert(g, or);
        or.map(|m| crate::symbolic::BitOp::Set(m as i64))
    }
}

/// The one value every `return` that `consts` leaves reachable in `f`
/// gives (`value_of` reads each returned value), if they all give the
/// same known one: a predicate's in a context ([`Program::predicate_value`]),
/// a helper's constant ([`Program::constant_return`]).
pub(super) fn one_returned_value(
    f: &Function,
    consts: &Consts,
    value_of: impl Fn(&Value) -> Option<i64>,
) -> Option<i64> {
    let ret = f.var_id(RETURN_VAR)?;
    let live = live_nodes(&f.cfg, consts);
    let mut out = None;
    for (node, _) in f.cfg.nodes.iter().zip(&live).filter(|(_, l)| **l) {
        for ev in &node.events {
            let Event::Assign { var, value } = ev else {
                continue;
            };
            if *var != ret {
                continue;
            }
            let v = value_of(value)?;
            if out.is_some_and(|o| o != v) {
                return None;
            }
            out = Some(v);
        }
    }
    out
}
