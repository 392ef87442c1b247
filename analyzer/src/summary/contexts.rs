//! The contexts a function is analyzed in: the constants its callers pass
//! (and fields of struct arguments, set by init helpers), case splits on a
//! parameter a local predicate decides on, and the constants a function's
//! locals hold.

use std::collections::HashMap;
use std::rc::Rc;

use super::{env_key, Fast, FnId, Program};
use crate::field_values::{
    covered, has_wildcards, lookup, values_by_var, wildcard_of, UNKNOWN_FIELD,
};
use crate::ir::*;
use crate::limits::{CONTEXT_LEVELS, MAX_CASE_SPLIT, MAX_CHOICE_SPLIT, MAX_CONTEXTS};
use crate::lockstate::*;
use crate::symbolic::{alternatives_of, at_most_of, is_one_of};

impl Program<'_> {
    /// Constants a function's locals and struct fields hold in a context,
    /// flow-insensitively: a variable is constant only if every assignment in
    /// the function that the context's constants leave reachable gives it the
    /// same constant, so `if (ins_len > 0) ins_len -= size;` does not unsettle
    /// `ins_len = 0`. A call counts as an assignment of every field its
    /// callee may write through the argument, itself or further down
    /// ([`Program::field_writes`]). When a callee writes a field behind
    /// a parameter, the value it had on entry counts too: the context's
    /// constant, or unknown (`sc->mode` tested, then `disable_mode(sc)` later
    /// in a loop: the test sees the caller's mode, not only the one written).
    pub fn local_facts<'p>(&'p self, fid: FnId, env: &ConstMap) -> ConstMap {
        let f = self.function(fid);
        // Derived values (`cow = mod != 0`) and branches are decided by the
        // context's constants alone: one pass, no chains of locals.
        let wildcards = has_wildcards(env);
        let by_var = values_by_var(&f.vars, env);
        let env_consts = Consts {
            by_var: &by_var,
            macros: self.macros,
        };
        let live = live_nodes(&f.cfg, &env_consts);
        // What the same-file predicates called here return in this context
        // ([`Program::predicate_value`]), by call.
        let mut predicate: HashMap<CallId, i64, Fast> = HashMap::default();
        let stable = self.stable_calls(fid, false);
        for (node, _) in f.cfg.nodes.iter().zip(&live).filter(|(_, live)| **live) {
            for ev in &node.events {
                let Event::Call(cid) = ev else { continue };
                if self.free_range_lookup(fid, *cid, env) {
                    predicate.insert(*cid, 0);
                    continue;
                }
                // A stable call whose result the context knows (a caller
                // branched on the same call of the same object).
                if let Some(v) = stable
                    .keys
                    .get(*cid as usize)
                    .and_then(|k| k.as_deref())
                    .and_then(|k| lookup(env, wildcards, k))
                {
                    predicate.insert(*cid, v);
                    continue;
                }
                let Some(g) = self.graph.resolved[fid as usize][*cid as usize] else {
                    continue;
                };
                if g != fid && self.is_local_predicate(fid, g) {
                    // One value only if every context the call gives (one
                    // per value of a two-valued argument) returns it.
                    // Without constants of the caller's a predicate has
                    // nothing to decide by (most calls are so): not asked.
                    let values: Vec<Option<i64>> = self
                        .callee_envs(fid, *cid, g, env)
                        .iter()
                        .map(|genv| match genv.is_empty() {
                            true => None,
                            false => self.predicate_value(g, genv),
                        })
                        .collect();
                    if let Some(Some(v)) = values.first() {
                        if values.iter().all(|x| *x == Some(*v)) {
                            predicate.insert(*cid, *v);
                        }
                    }
                }
                if !predicate.contains_key(cid) {
                    if let Some(v) = self.constant_return(fid, g) {
                        predicate.insert(*cid, v);
                    }
                }
            }
        }
        // What the predicates return decides branches too: the assignments
        // under `if (!detach(..)) downgrade = false;` are dead when the
        // callee returns true in this context.
        let by_var_decided;
        let live_decided;
        let live: &[bool] = if predicate.is_empty() {
            &live
        } else {
            let mut by_var = by_var.clone();
            for (cid, v) in &predicate {
                if let Some(slot) = by_var.get_mut(f.calls[*cid as usize].result_var as usize) {
                    *slot = Some(*v);
                }
            }
            by_var_decided = by_var;
            live_decided = live_nodes(
                &f.cfg,
                &Consts {
                    by_var: &by_var_decided,
                    macros: self.macros,
                },
            );
            &live_decided
        };
        // Variables assigned what a zeroing allocator returns: their fields
        // are 0 (the wildcard `v.*`) unless another value is assigned them
        // (NULL has no fields: it changes nothing).
        let zeroed_vars = self.zeroed_vars(fid);
        // Keys borrow the function's variable names (most facts are about them).
        let mut candidates: HashMap<std::borrow::Cow<'p, str>, Option<i64>, Fast> =
            HashMap::default();
        // What a field behind a parameter holds on entry is a value too when
        // a callee writes the field (unknown unless the context gives it):
        // `disable_mode(sc)` at the end of a loop does not make the test of
        // `sc->mode` at its top see only the value written. An assignment in
        // the body itself (`data->flags |= X`) still gives the field its
        // value alone, and a plain parameter keeps its assigned constant
        // (`gup_flags = gup_flags | FOLL_GET`): counting the entry value
        // there too, flow-insensitively, reopens hundreds of paths that
        // such assignments decide after the test (measured on 6.12: MMS004
        // 101 -> 708 whole-tree findings); that needs a flow-sensitive view.
        let from_caller = |k: &str| {
            k.split_once('.')
                .is_some_and(|(base, _)| f.params.iter().any(|p| !p.is_empty() && p == base))
        };
        // Two values of one flag word join as the bits either may have
        // ([`crate::symbolic::join_bits`]); other differing values are unknown.
        let join = |a: Option<i64>, b: Option<i64>| match (a, b) {
            _ if a == b => a,
            (Some(a), Some(b)) => crate::symbolic::join_bits(a, b, &|s| self.macros.value(s)),
            _ => None,
        };
        // Fields the function tests before it assigns them: the test sees
        // the entry value ([`super::tested_first`]).
        let tested_first: Vec<&str> = self
            .tested_first(fid)
            .iter()
            .map(|&v| f.var_name(v))
            .collect();
        let mut merge = |k: std::borrow::Cow<'p, str>, v: Option<i64>, through_call: bool| {
            let entry = lookup(env, wildcards, k.as_ref());
            let unknown_entry = entry.is_none()
                && from_caller(k.as_ref())
                && (through_call || tested_first.contains(&k.as_ref()));
            candidates
                .entry(k)
                .and_modify(|old| *old = join(*old, v))
                .or_insert(match entry {
                    _ if unknown_entry => None,
                    Some(e) if Some(e) != v => join(Some(e), v),
                    _ => v,
                });
        };
        // A choice of two constants the context leaves open is one of them
        // ([`crate::symbolic::one_of`]): unknown here, a value per callee
        // context ([`Program::callee_envs`]).
        let value = |v: &Value| match v {
            Value::Const(c) => Some(*c),
            Value::OrBits(p, h) => {
                crate::symbolic::or_bits(lookup(env, wildcards, p), *h, &|s| self.macros.value(s))
            }
            Value::Path(p) => lookup(env, wildcards, p),
            Value::BitsOf(p, ops) => {
                crate::symbolic::bits_through(lookup(env, wildcards, p), ops, &|s| {
                    self.macros.value(s)
                })
            }
            Value::Cond(_) => decided(v, &env_consts),
            Value::Choice(_, a, b) => {
                decided(v, &env_consts).or_else(|| Some(crate::symbolic::one_of(&[*a, *b])))
            }
            Value::CallResult(c) => predicate.get(c).copied().or_else(|| {
                // A helper that returns its argument with bits only cleared
                // (`[keeps_bits]`: `current_gfp_context(gfp)`).
                let call = &f.calls[*c as usize];
                let j = *self.cat.keeps_bits.get(&call.callee)?;
                let arg = match call.arg_values.get(j)? {
                    Value::Const(c) => *c,
                    Value::Path(p) => lookup(env, wildcards, p)?,
                    _ => return None,
                };
                at_most_of(arg, &|s| self.macros.value(s))
            }),
            _ => None,
        };
        let macro_value = |s| self.macros.value(s);
        let plain_local = |var: &str| !var.contains('.') && !f.params.iter().any(|p| p == var);
        let mut weakened: Vec<&str> = Vec::new();
        for (node, _) in f.cfg.nodes.iter().zip(live).filter(|(_, live)| **live) {
            for ev in &node.events {
                match ev {
                    Event::Assign {
                        var,
                        value:
                            v @ (Value::SetBits(_)
                            | Value::ClearBits(_)
                            | Value::MaskBits
                            | Value::SetCallBits(_)),
                    } => {
                        let name = f.var_name(*var);
                        let entry = lookup(env, wildcards, name);
                        let op = match v {
                            Value::SetCallBits(c) => self.returned_bits(fid, *c),
                            _ => v.bit_op(),
                        };
                        let bits = op.and_then(|op| {
                            crate::symbolic::bits_after(entry, plain_local(name), op, &macro_value)
                        });
                        match bits {
                            // `x &= ..` of a plain local: no bit it did not
                            // have, but the bits it is known to have may go
                            // (its values become bounds, below).
                            None if plain_local(name)
                                && entry.is_none()
                                && !matches!(v, Value::SetBits(_)) =>
                            {
                                weakened.push(name)
                            }
                            k => merge(name.into(), k, false),
                        }
                    }
                    Event::Assign { var, value: v } => {
                        if zeroed_vars.contains(var) {
                            let zeroed = match v {
                                Value::CallResult(c) => self.returns_zeroed(fid, *c, 0),
                                _ => false,
                            };
                            if !matches!(v, Value::Const(0)) {
                                let w = wildcard_of(f.var_name(*var));
                                merge(w.into(), zeroed.then_some(0), false);
                            }
                        }
                        merge(f.var_name(*var).into(), value(v), false)
                    }
                    Event::Call(cid) => {
                        let call = &f.calls[*cid as usize];
                        // A callee with no definition in view is taken to
                        // write nothing (its definition may be in the tree
                        // but not parsed: only callees that can reach a long
                        // operation are).
                        // (The zeroes of a designated initializer are
                        // constants like the fields it names: the same holds.)
                        let Some(g) = self.graph.resolved[fid as usize][*cid as usize] else {
                            continue;
                        };
                        // A local whose address the callee is handed may be
                        // written there (`hugetlb_mcopy_atomic_pte(.., &page)`
                        // after `page = NULL`): no constant of its own.
                        for arg in &call.args {
                            if let Some(name) = arg.strip_prefix('&').map(str::trim) {
                                if plain_local(name) && f.var_id(name).is_some() {
                                    merge(name.into(), None, false);
                                }
                            }
                        }
                        for store in self.field_writes(g).iter() {
                            let Some(base) =
                                call.args.get(store.param).and_then(|a| normalize_path(a))
                            else {
                                continue;
                            };
                            let key = format!("{base}.{}", store.field);
                            let v = match &store.source {
                                StoreSource::Const(c) => Some(*c),
                                StoreSource::Param(j) => call.arg_values.get(*j).and_then(value),
                                // `ttm->page_flags |= TTM_TT_FLAG_PRIV_POPULATED`
                                // further down: flags known clear stay so.
                                StoreSource::Bits(op) => {
                                    lookup(env, wildcards, &key).and_then(|e| {
                                        crate::symbolic::bits_after(
                                            Some(e),
                                            false,
                                            *op,
                                            &macro_value,
                                        )
                                    })
                                }
                                StoreSource::Unknown => None,
                            };
                            merge(key.into(), v, true);
                        }
                    }
                }
            }
        }
        // A plain local masked or cleared somewhere keeps at most the bits
        // its assignments give it: an exact value is only a bound, and a
        // value known to have a bit (`x | VM_LOCKED`) says nothing.
        for name in weakened {
            if let Some(v) = candidates.get_mut(name) {
                *v = v.and_then(|x| match crate::symbolic::bits_of(x) {
                    Some(_) => None,
                    None => at_most_of(x, &macro_value),
                });
            }
        }
        let mut facts = env.clone();
        // Only a context with fields can give a local's fields.
        if env.keys().any(|k| k.contains('.')) {
            let locals = alias_paths(f, live, &plain_local, &from_caller);
            if !locals.is_empty() {
                let written: Vec<&str> = candidates.keys().map(|k| k.as_ref()).collect();
                facts.extend(aliases(&locals, env, &written));
            }
        }
        if self.starts_free_range(fid, env, wildcards) {
            facts.insert(super::free_range::FREE_RANGE.to_string(), 1);
        }
        // A predicate's result tested where it is called (`if (pred(sc))`).
        for (cid, v) in &predicate {
            let name = f.var_name(f.calls[*cid as usize].result_var);
            if name.starts_with('$') {
                facts.insert(name.to_string(), *v);
            }
        }
        let mut unknown = Vec::new();
        for (k, v) in candidates {
            match v {
                Some(v) => {
                    facts.insert(k.into_owned(), v);
                }
                None => unknown.push(k),
            }
        }
        // A field made unknown under a wildcard is marked, not dropped (its
        // absence would read as the wildcard's zero); a struct assigned as a
        // whole loses its wildcard too.
        for k in unknown {
            let whole = wildcard_of(&k);
            // A pointer assigned a zeroed object: its value is unknown, its
            // fields are the object's zeroes (unless assigned another).
            let zeroed_object = zeroed_vars.iter().any(|&v| f.var_name(v) == k.as_ref())
                && facts.get(&whole) == Some(&0);
            if facts.contains_key(&whole) && !zeroed_object {
                facts.insert(whole, UNKNOWN_FIELD);
            }
            if covered(&facts, &k) || k.ends_with(".*") && facts.contains_key(k.as_ref()) {
                facts.insert(k.into_owned(), UNKNOWN_FIELD);
            } else {
                facts.remove(k.as_ref());
            }
        }
        facts
    }

    /// [`Program::local_facts`], memoized (a pure function of the program).
    pub(super) fn memo_facts(&self, fid: FnId, env: &ConstMap) -> Rc<ConstMap> {
        let key = (fid, env_key(env, self.macros));
        if let Some(f) = self.facts_memo.borrow().get(&key) {
            return f.clone();
        }
        let facts = Rc::new(self.local_facts(fid, env));
        self.facts_memo.borrow_mut().insert(key, facts.clone());
        facts
    }

    /// The contexts a root function is analyzed in: the constants its callers
    /// pass, plus the unknown context when a caller passes no constant or
    /// there is no caller in the analyzed files. At the root (`depth` 0) an
    /// unknown context is split by [`Program::case_split`].
    pub fn contexts(&self, fid: FnId, depth: u32) -> Rc<Vec<ConstMap>> {
        let contexts = self.caller_contexts(fid, depth);
        if depth > 0 {
            return contexts;
        }
        let Some((param, values)) = self.case_split(fid) else {
            return contexts;
        };
        let mut out: Vec<ConstMap> = Vec::new();
        for env in contexts.iter() {
            if env.contains_key(&param) {
                out.push(env.clone());
                continue;
            }
            for &v in values.iter().chain([&other_value(&values)]) {
                let mut split = env.clone();
                split.insert(param.clone(), v);
                out.push(split);
            }
        }
        Rc::new(out)
    }

    /// A parameter that a side-effect-free predicate callee decides on
    /// (`write = madvise_need_mmap_write(behavior)`), with every constant it
    /// is compared with there and in the function itself: the function is
    /// then analyzed once per value and once for any other value
    /// ([`other_value`]), so the lock mode the predicate picks follows the
    /// parameter into the function's own `switch (behavior)`. None when a
    /// comparison is not an equality with a constant, or there are more than
    /// [`MAX_CASE_SPLIT`] values.
    pub(super) fn case_split(&self, fid: FnId) -> Option<(String, Vec<i64>)> {
        let f = self.function(fid);
        for (cid, call) in f.calls.iter().enumerate() {
            let Some(g) = self.graph.resolved[fid as usize][cid] else {
                continue;
            };
            if !self.is_local_predicate(fid, g) {
                continue;
            }
            for (j, arg) in call.arg_values.iter().enumerate() {
                let Value::Path(p) = arg else { continue };
                if !f.params.iter().any(|q| q == p) {
                    continue;
                }
                let gf = self.function(g);
                let Some(gp) = gf.params.get(j).filter(|q| !q.is_empty()) else {
                    continue;
                };
                let mut values = Vec::new();
                if !compared_constants(gf, gp, &mut values) || values.is_empty() {
                    continue;
                }
                if !compared_constants(f, p, &mut values) {
                    continue;
                }
                values.sort_unstable();
                values.dedup();
                if values.len() <= MAX_CASE_SPLIT && !values.iter().any(|v| is_other(*v)) {
                    return Some((p.clone(), values));
                }
            }
        }
        None
    }

    pub(super) fn caller_contexts(&self, fid: FnId, depth: u32) -> Rc<Vec<ConstMap>> {
        if let Some(c) = self.contexts_memo.borrow().get(&fid) {
            return c.clone();
        }
        let unknown = Rc::new(vec![ConstMap::default()]);
        if depth >= CONTEXT_LEVELS {
            return unknown;
        }
        if self.graph.callers[fid as usize].is_empty() {
            // A handler entered through a field the catalogue gives facts
            // for (`->pfn_mkwrite` of a file system: a DAX file).
            let facts = &self.function(fid).entry_facts;
            if facts.is_empty() {
                return unknown;
            }
            return Rc::new(vec![facts.iter().cloned().collect()]);
        }
        // Cut cycles: while computing, this function has the unknown context.
        self.contexts_memo.borrow_mut().insert(fid, unknown.clone());
        let mut out: Vec<ConstMap> = Vec::new();
        let mut has_unknown = false;
        for &(g, cid) in &self.graph.callers[fid as usize] {
            for genv in self.caller_contexts(g, depth + 1).iter() {
                let facts = self.memo_facts(g, genv);
                for env in self.callee_envs(g, cid, fid, &facts) {
                    if env.is_empty() {
                        has_unknown = true;
                    } else if !out.contains(&env) {
                        out.push(env);
                    }
                }
            }
        }
        if has_unknown {
            out.push(ConstMap::default());
        }
        let result = Rc::new(if out.len() > MAX_CONTEXTS {
            vec![ConstMap::default()]
        } else {
            out
        });
        self.contexts_memo.borrow_mut().insert(fid, result.clone());
        result
    }
}

/// A context per combination of its [`crate::symbolic::one_of`] values
/// (sorted by name, so the order is the same in every run); when there are
/// more than [`MAX_CHOICE_SPLIT`], those values are dropped (unknown).
pub(super) fn split_choices(mut env: ConstMap) -> Vec<ConstMap> {
    let mut choices: Vec<(String, Vec<i64>)> = env
        .iter()
        .filter(|(_, v)| is_one_of(**v))
        .map(|(k, v)| (k.clone(), alternatives_of(*v).unwrap_or_default()))
        .collect();
    if choices.is_empty() {
        return vec![env];
    }
    // Unknown until a value is chosen: marked where a wildcard's zero
    // would otherwise answer for the field.
    for (k, _) in &choices {
        if covered(&env, k) {
            env.insert(k.clone(), UNKNOWN_FIELD);
        } else {
            env.remove(k);
        }
    }
    let combinations = choices
        .iter()
        .try_fold(1usize, |n, (_, alts)| n.checked_mul(alts.len()));
    if !combinations.is_some_and(|n| (1..=MAX_CHOICE_SPLIT).contains(&n)) {
        return vec![env];
    }
    choices.sort();
    let mut out = vec![env];
    for (k, alts) in choices {
        let mut next = Vec::with_capacity(out.len() * alts.len());
        for e in &out {
            for a in &alts {
                let mut e = e.clone();
                e.insert(k.clone(), *a);
                next.push(e);
            }
        }
        out = next;
    }
    out
}

/// Adds to `out` every constant `param` is compared with for equality in
/// `f` (`switch` cases, `==`, `!=`); false when it is compared otherwise
/// (`<`, a case that is not a constant), where "any other value" would not
/// be one answer.
fn compared_constants(f: &Function, param: &str, out: &mut Vec<i64>) -> bool {
    let Some(var) = f.var_id(param) else {
        return true;
    };
    fn walk(e: &Expr, var: VarId, out: &mut Vec<i64>) -> bool {
        match e {
            Expr::Not(a) => walk(a, var, out),
            Expr::And(a, b) | Expr::Or(a, b) => walk(a, var, out) && walk(b, var, out),
            // Bits of the parameter: "any other value" is no one answer.
            Expr::BitAnd(a, b) => {
                !matches!((a.as_ref(), b.as_ref()), (Expr::Var(v), _) | (_, Expr::Var(v)) if *v == var)
                    && walk(a, var, out)
                    && walk(b, var, out)
            }
            Expr::Cmp(op, a, b) => match (a.as_ref(), b.as_ref()) {
                (Expr::Var(v), Expr::Const(c)) | (Expr::Const(c), Expr::Var(v)) if *v == var => {
                    out.push(*c);
                    matches!(op, CmpOp::Eq | CmpOp::Ne)
                }
                _ => walk(a, var, out) && walk(b, var, out),
            },
            Expr::Var(_) | Expr::Const(_) | Expr::Unknown => true,
        }
    }
    for node in &f.cfg.nodes {
        if let Some(cond) = &node.branch {
            if !walk(cond, var, out) {
                return false;
            }
        }
        if let Some((Expr::Var(v), cases)) = &node.switch {
            if *v == var {
                for case in cases.iter().flatten() {
                    match case {
                        Expr::Const(c) => out.push(*c),
                        _ => return false,
                    }
                }
            }
        }
    }
    true
}

/// The nodes of a CFG that a context can reach: a branch whose condition the
/// context's constants decide keeps only its taken edge.
pub(super) fn live_nodes(cfg: &Cfg, consts: &Consts) -> Vec<bool> {
    let mut live = vec![false; cfg.nodes.len()];
    let mut stack = vec![cfg.entry];
    while let Some(n) = stack.pop() {
        let Some(seen) = live.get_mut(n as usize) else {
            continue;
        };
        if *seen {
            continue;
        }
        *seen = true;
        let node = &cfg.nodes[n as usize];
        match (&node.branch, node.succ.as_slice()) {
            (Some(cond), [t, f]) if node.switch.is_none() => {
                match eval(cond, consts, None).and_then(truth_of) {
                    Some(false) => stack.push(*f),
                    Some(true) => stack.push(*t),
                    None => stack.extend([*t, *f]),
                }
            }
            _ => stack.extend(node.succ.iter().copied()),
        }
    }
    live
}

/// Plain locals assigned one path below a parameter and nothing else on
/// the live nodes (`vma = vmf->vma`), with that path, for locals whose
/// address no call is handed ([`Function::address_passed`]).
fn alias_paths<'f>(
    f: &'f Function,
    live: &[bool],
    plain_local: &dyn Fn(&str) -> bool,
    from_caller: &dyn Fn(&str) -> bool,
) -> Vec<(&'f str, &'f str)> {
    let mut path_of: HashMap<VarId, Option<&str>, Fast> = HashMap::default();
    for (node, _) in f.cfg.nodes.iter().zip(live).filter(|(_, live)| **live) {
        for ev in &node.events {
            let Event::Assign { var, value } = ev else {
                continue;
            };
            if !plain_local(f.var_name(*var)) {
                continue;
            }
            let path = match value {
                Value::Path(p) if from_caller(p) && !p.contains('@') => Some(p.as_str()),
                _ => None,
            };
            path_of
                .entry(*var)
                .and_modify(|old| *old = old.filter(|o| Some(*o) == path))
                .or_insert(path);
        }
    }
    let mut out: Vec<(&str, &str)> = path_of
        .into_iter()
        .filter_map(|(var, path)| Some((f.var_name(var), path?)))
        .filter(|(name, _)| !f.address_passed(name))
        .collect();
    out.sort_unstable();
    out
}

/// The fields a context gives a plain local through the one path below a
/// parameter it is assigned (`locals`, from [`alias_paths`]: `vma.vm_flags`
/// is the context's `vmf.vma.vm_flags`). A field the function writes
/// (`written`: the keys its own assignments or its callees give a value),
/// through either name or at or above it (`vmf.vma` reassigned), is left to
/// those writes.
fn aliases(locals: &[(&str, &str)], env: &ConstMap, written: &[&str]) -> Vec<(String, i64)> {
    let at_or_below = |k: &str, path: &str| {
        k.strip_prefix(path)
            .is_some_and(|r| r.is_empty() || r.starts_with('.'))
    };
    let is_written = |k: &str| written.iter().any(|w| at_or_below(k, w));
    let mut out = Vec::new();
    for &(name, path) in locals {
        for (k, v) in env
            .iter()
            .filter(|(k, _)| at_or_below(k, path) && k.len() > path.len())
        {
            let key = format!("{name}{}", &k[path.len()..]);
            // (The local's own assignment, the alias, writes `name`.)
            let key_written = written.iter().any(|w| *w != name && at_or_below(&key, w));
            if !is_written(k) && !key_written {
                out.push((key, *v));
            }
        }
    }
    out.sort();
    out
}
