//! What a side-effect-free predicate of the caller's file returns in a
//! context: `if (writeback_throttling_sane(sc))` under global reclaim
//! (`sc->target_mem_cgroup` zero) is decided, through
//! `!cgroup_reclaim(sc)`, by the value the predicate returns for the
//! caller's constants. Predicates calling predicates are followed to
//! [`MAX_PREDICATE_DEPTH`].

use super::{env_key, FnId, Program};
use crate::field_values::{has_wildcards, lookup, values_by_var};
use crate::ir::*;
use crate::lockstate::*;

/// Predicates followed inside one another (and the bound of a recursion).
pub const MAX_PREDICATE_DEPTH: u32 = 4;

impl Program<'_> {
    /// Neither touches the lock nor reaches a long operation (nor an
    /// unresolved call): what it returns is all a caller learns from it.
    pub(super) fn is_pure_predicate(&self, g: FnId) -> bool {
        !self.graph.may_touch_lock[g as usize] && !self.graph.may_reach_long[g as usize]
    }

    /// A pure predicate defined in the caller's file: a name defined in many
    /// places (`test_bit`, config stubs returning a constant) may resolve to
    /// a definition the caller does not use, and its constant result would
    /// prune the caller's real paths; a same-file definition is the one used.
    pub(super) fn is_local_predicate(&self, caller: FnId, g: FnId) -> bool {
        self.is_pure_predicate(g) && self.function(g).file == self.function(caller).file
    }

    /// The one value every `return` that `env` leaves reachable in `g`
    /// gives, if they all give the same known one.
    pub(super) fn predicate_value(&self, g: FnId, env: &ConstMap) -> Option<i64> {
        let key = (g, env_key(env, self.macros));
        if let Some(v) = self.predicate_memo.borrow().get(&key) {
            return *v;
        }
        if self.predicate_depth.get() >= MAX_PREDICATE_DEPTH {
            return None;
        }
        self.predicate_depth.set(self.predicate_depth.get() + 1);
        let value = self.predicate_value_uncached(g, env);
        self.predicate_depth.set(self.predicate_depth.get() - 1);
        self.predicate_memo.borrow_mut().insert(key, value);
        value
    }

    fn predicate_value_uncached(&self, g: FnId, env: &ConstMap) -> Option<i64> {
        let f = self.function(g);
        // A function returning nothing decides nothing: its facts are not made.
        f.var_id(RETURN_VAR)?;
        // The predicate's own facts hold the results of the predicates it
        // calls in turn.
        let facts = self.local_facts(g, env);
        let wildcards = has_wildcards(&facts);
        let by_var = values_by_var(&f.vars, &facts);
        let consts = Consts {
            by_var: &by_var,
            macros: self.macros,
        };
        super::returns::one_returned_value(f, &consts, |value| match value {
            Value::Path(p) => lookup(&facts, wildcards, p),
            Value::CallResult(c) => by_var[f.calls[*c as usize].result_var as usize],
            v => decided(v, &consts),
        })
    }
}
