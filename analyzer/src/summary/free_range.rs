//! Ranges a function knows to be free (`[free_range]`): `do_mmap()`
//! without `MAP_FIXED` maps a range `get_unmapped_area()` found empty, so
//! `mmap_region()`'s lookup of the mappings it would replace finds none and
//! its unmap of them (6.12 `vms_gather_munmap_vmas()` ... `vms_clear_ptes()`,
//! 6.1 `do_mas_munmap()`) is not reached. (aio's ring maps so under the
//! write lock, and `mmap(2)` of a hint; x86's shadow stack does too, but
//! its flags, built in a branch, are unknown by name.)
//!
//! The fact is a context key ([`FREE_RANGE`]): set in the facts of the
//! catalogued function when its flag parameter's entry value has none of
//! the `unless` flags, handed to the callees the entry names (`in`), where
//! the catalogued lookups return NULL ([`Program::free_range_lookup`]).
//! The lookup's result is followed in CFG order
//! ([`Program::branch_values`], and [`Program::dead_edges`] for the field
//! states): `vma = vma_find(..); if (vma)` comes before `vma` is
//! reassigned.

use super::{FnId, Program};
use crate::field_values::lookup;
use crate::ir::*;
use crate::lockstate::ConstMap;

/// The context key saying "this range is free".
pub(super) const FREE_RANGE: &str = "@free_range";

impl Program<'_> {
    /// Whether `fid`, entered with `env`, is a `[free_range]` function
    /// whose flag parameter has none of the entry's `unless` flags.
    pub(super) fn starts_free_range(&self, fid: FnId, env: &ConstMap, wildcards: bool) -> bool {
        let f = self.function(fid);
        let Some(entry) = self.cat.free_range.get(&f.name) else {
            return false;
        };
        let Some(flags) = lookup(env, wildcards, &entry.param) else {
            return false;
        };
        let macro_value = |s| self.macros.value(s);
        // On the flags' numbers when the run knows them; else by name (the
        // mmap flags' numbers differ by architecture, each a bit of its own).
        let named = crate::symbolic::named_flags(flags);
        entry.unless.iter().all(|flag| {
            let flag = crate::symbolic::symbol_hash(flag);
            match crate::symbolic::bit_and(flags, flag, &macro_value) {
                Some(set) => !set,
                None => named.as_ref().is_some_and(|n| !n.contains(&flag)),
            }
        })
    }

    /// Whether call `cid` of `fid` is a lookup of a free range in the
    /// context `env` (its result is NULL).
    pub(super) fn free_range_lookup(&self, fid: FnId, cid: CallId, env: &ConstMap) -> bool {
        if env.get(FREE_RANGE) != Some(&1) {
            return false;
        }
        let f = self.function(fid);
        f.calls.get(cid as usize).is_some_and(|c| {
            self.cat
                .free_range
                .values()
                .any(|r| r.functions.contains(&f.name) && r.lookups.contains(&c.callee))
        })
    }

    /// Whether a call with `facts` hands the free range on to `callee`.
    pub(super) fn hands_free_range(&self, facts: &ConstMap, callee: &Function) -> bool {
        facts.get(FREE_RANGE) == Some(&1)
            && self
                .cat
                .free_range
                .values()
                .any(|r| r.functions.contains(&callee.name))
    }
}
