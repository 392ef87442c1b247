//! The context a call gives its callee: the constants of its arguments
//! (`Value::Path` through the caller's facts, `x | C`, bit steps, one of
//! two constants), the fields of struct arguments the callee reads, what
//! the caller's stable calls and conditions imply, the task's flags, a
//! free range, and, through [`super::field_states`], one context per
//! alternative the flow-sensitive field states give.

use super::contexts::split_choices;
use super::{FnId, Program};
use crate::field_values::{const_of, values_by_var, wildcard_of};
use crate::ir::*;
use crate::lockstate::*;
use crate::symbolic::one_of;

impl Program<'_> {
    /// The contexts a call gives its callee: one, or one per combination of
    /// the values of arguments that hold one of two constants (at most
    /// [`crate::limits::MAX_CHOICE_SPLIT`]; past that, those arguments are unknown).
    pub(super) fn callee_envs(
        &self,
        caller: FnId,
        cid: CallId,
        callee: FnId,
        facts: &ConstMap,
    ) -> Vec<ConstMap> {
        if let Some(envs) = self.envs_per_alternative(caller, cid, callee, facts) {
            return envs;
        }
        split_choices(self.callee_env(caller, cid, callee, facts))
    }

    /// The context a call gives its callee, with [`crate::symbolic::one_of`]
    /// values where an argument is one of two constants.
    pub(super) fn callee_env(
        &self,
        caller: FnId,
        cid: CallId,
        callee: FnId,
        facts: &ConstMap,
    ) -> ConstMap {
        let call = &self.function(caller).calls[cid as usize];
        let g = self.function(callee);
        let mut env = ConstMap::default();
        // Outcomes of stable calls the branches above this call decided.
        let stable = self.stable_calls(caller, super::stable_calls::has_implications(facts));
        let refined;
        let facts = match stable.at_call.get(cid as usize) {
            Some(known) if !known.is_empty() => {
                let mut m = facts.clone();
                for (k, v) in known {
                    // `?p`: parameter p is true here; what the caller said
                    // its truth implies (`p=>key`) holds.
                    if let Some(p) = k.strip_prefix('?') {
                        if *v == 1 {
                            let pre = format!("{p}=>");
                            let implied: Vec<(String, i64)> = facts
                                .iter()
                                .filter_map(|(fk, fv)| {
                                    Some((fk.strip_prefix(&pre)?.to_string(), *fv))
                                })
                                .collect();
                            m.extend(implied);
                        }
                    } else {
                        m.insert(k.clone(), *v);
                    }
                }
                refined = m;
                &refined
            }
            _ => facts,
        };
        // Functions handed to a walker's function-pointer parameters.
        if self.graph.resolved[caller as usize][cid as usize] == Some(callee) {
            for &(j, t) in self.graph.fn_args.get(&(caller, cid)).into_iter().flatten() {
                if let Some(pname) = g.params.get(j) {
                    env.insert(pname.clone(), self.graph.fn_code(t));
                }
            }
        }
        for (j, pname) in g.params.iter().enumerate() {
            if pname.is_empty() {
                continue;
            }
            match call.arg_values.get(j) {
                Some(Value::Const(c)) => {
                    env.insert(pname.clone(), *c);
                }
                Some(Value::OrBits(p, h)) => {
                    if let Some(v) =
                        crate::symbolic::or_bits(const_of(facts, p), *h, &|s| self.macros.value(s))
                    {
                        env.insert(pname.clone(), v);
                    }
                }
                Some(Value::BitsOf(p, ops)) => {
                    let macro_value = |s| self.macros.value(s);
                    if let Some(v) =
                        crate::symbolic::bits_through(const_of(facts, p), ops, &macro_value)
                    {
                        env.insert(pname.clone(), v);
                    }
                }
                Some(Value::Path(p)) => {
                    if let Some(v) = const_of(facts, p) {
                        env.insert(pname.clone(), v);
                    }
                    // The zeroes of a wildcard above the argument
                    // (`&sc.reclaim_state` of a zeroed `sc`).
                    if let Some(v) = const_of(facts, &wildcard_of(p)) {
                        env.insert(wildcard_of(pname), v);
                    }
                    // Fields of the argument: `p.rest` becomes `pname.rest`
                    // (those the callee may read: [`crate::field_reads`]).
                    let reads = self.graph.reads[callee as usize].as_ref();
                    for (k, v) in facts {
                        if let Some(rest) =
                            k.strip_prefix(p.as_str()).and_then(|r| r.strip_prefix('.'))
                        {
                            let key = format!("{pname}.{rest}");
                            if crate::field_reads::key_is_read(g, reads, &key) {
                                env.insert(key, *v);
                            }
                        }
                    }
                }
                Some(v @ Value::Choice(_, a, b)) => {
                    // `f(x, async ? MIGRATE_ASYNC : MIGRATE_SYNC)`.
                    let by_var = values_by_var(&self.function(caller).vars, facts);
                    let consts = Consts {
                        by_var: &by_var,
                        macros: self.macros,
                    };
                    let c = decided(v, &consts).unwrap_or_else(|| one_of(&[*a, *b]));
                    env.insert(pname.clone(), c);
                }
                _ => {}
            }
        }
        // A condition passed as an argument (`write_fault = IS_DAX(inode)
        // && ..`): what its truth implies on the caller's stable calls, in
        // the names of the callee's parameters (`write_fault=>vmf...`).
        for (j, pname) in g.params.iter().enumerate() {
            let Some(Value::Cond(e)) = call.arg_values.get(j) else {
                continue;
            };
            for (k, v) in self.implied_keys(caller, e) {
                let root = k.split('.').next().unwrap_or_default();
                let Some(i) = call
                    .arg_values
                    .iter()
                    .position(|a| matches!(a, Value::Path(p) if p == root))
                else {
                    continue;
                };
                let Some(q) = g.params.get(i).filter(|q| !q.is_empty()) else {
                    continue;
                };
                env.insert(format!("{pname}=>{q}{}", &k[root.len()..]), v);
                env.insert(super::stable_calls::IMPLICATIONS.to_string(), 1);
            }
        }
        // The task's flags (`PF_MEMALLOC` after `memalloc_noreclaim_save()`),
        // for a callee that can reach a test of them.
        if let Some((word, value)) = self.task_flags_for(caller, cid, callee, facts) {
            env.insert(word.to_string(), value);
        }
        // What the catalogue says this caller hands this callee
        // (`[call_facts]`: `hugetlb_add_to_page_cache()` adds a hugetlb folio).
        if let Some(cf) = self
            .cat
            .call_facts
            .get(&self.function(caller).name)
            .and_then(|m| m.get(&g.name))
        {
            env.extend(cf.for_callee(&g.params));
        }
        if self.hands_free_range(facts, g) {
            env.insert(super::free_range::FREE_RANGE.to_string(), 1);
        }
        // "Any other value" goes on with the values it excludes: a callee
        // compares it as its comparisons allow ([`other_value`]).
        env
    }
}
