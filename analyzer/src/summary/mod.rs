//! Interprocedural analysis over the whole PATH.
//!
//! Each function is analyzed per *context*: the constants its parameters (and
//! fields of its struct parameters) hold at the call (`__vm_munmap(.., true)`
//! versus `(.., false)`). An analysis yields a [`FnResult`]: the function's
//! effect on the lock for each entry mode (releases, downgrades, re-takes), the
//! long operations it reaches while a write hold from its entry is still in
//! force, and the long operations reached under a write hold it takes itself.
//! Results are memoized per (function, context).
//!
//! A result must not depend on the order functions happen to be analyzed in:
//! summaries are reused between the rounds of a run and between revisions
//! ([`crate::summary_store`]). So call cycles are handled per cycle group
//! (strongly connected component of the call graph): a call into a group
//! from outside *enters* it, and everything analyzed inside the group from
//! that entry is memoized for that entry only; a call back to a function in
//! progress, or deeper than [`MAX_DEPTH`] inside the group, is cut with the
//! identity effect. A function's result is then a function of the function,
//! its context and what it can reach, whoever asked first.

//!
//! The work is split by job: [`contexts`] (the constants a function is
//! analyzed with), [`analysis`] (the dataflow per function, calls into
//! callees and cycle groups, the hits), [`reuse`] (summaries to and from
//! the [`SummaryStore`]); the call graph is [`crate::callgraph`], the
//! bounds [`crate::limits`].

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::rc::Rc;

use crate::callgraph::CallGraph;
pub use crate::callgraph::{Fast, FnId};
use crate::catalogue::{Catalogue, LockOp, LongClass};
use crate::ir::*;
use crate::limits::Cuts;

use crate::lockstate::*;
use crate::summary_store::{EnvKey, Noted, StableKey, SummaryKey, SummaryStore};

mod analysis;
mod callee_env;
mod contexts;
mod field_states;
mod field_writes;
mod flow_values;
mod free_range;
mod predicates;
mod returns;
mod reuse;
mod stable_calls;
mod task_flags;
mod tested_first;

/// Call sites from a holder down to a long call (tails shared with the
/// callees' hits: see [`crate::chain`]).
pub type Chain = crate::chain::Chain<(FnId, CallId)>;

/// A long operation reached under a write hold: the chain of call sites from
/// the holder down to the long call.
#[derive(Debug, Clone)]
pub struct Hit {
    pub class: LongClass,
    /// The lock mode held at the long call (for entry hits: the entry mode).
    pub held: Held,
    /// The mode at the long call itself: `held` unless the hold was
    /// downgraded on the way (`mmap_write_downgrade()` in a callee before
    /// it waits: an entry hit for a write entry, a wait under read).
    pub site_held: Held,
    pub chain: Chain,
    /// Where the holder took the lock (a call in `chain[0].0`), or entry.
    pub acquired: Origin,
}

#[derive(Debug, Default)]
pub struct FnResult {
    pub effect: Effect,
    /// Long operations reached while the hold the function was entered with
    /// is still in force (`held` says which entry mode).
    pub entry_hits: Vec<Hit>,
    pub local_hits: Vec<Hit>,
    /// Bounds of the analysis that cut what `entry_hits` (and the effect)
    /// could hold ([`Cuts`]); `local_cut` likewise for `local_hits`. Carried
    /// up to the holders, which the output names.
    pub entry_cut: Cuts,
    pub local_cut: Cuts,
}

pub struct Program<'c> {
    pub cat: &'c Catalogue,
    /// Shared with the run's other rounds.
    pub files: std::sync::Arc<Vec<String>>,
    /// Shared with the run's other rounds (each round's program adds to them).
    pub functions: Vec<std::sync::Arc<Function>>,
    /// The resolved call graph and the keys derived from it (shared by the
    /// programs of a round's analysis threads).
    graph: std::sync::Arc<CallGraph>,
    memo: RefCell<HashMap<(FnId, EnvKey), Rc<FnResult>, Fast>>,
    /// Summaries shared with other programs (rounds, revisions).
    store: &'c SummaryStore,
    /// The values of the tree's `#define`s (bit tests on flags).
    pub macros: &'c crate::macro_values::MacroTable,
    /// The entries being analyzed, innermost last.
    entries: RefCell<Vec<EntryFrame>>,
    /// Entries cut by [`MAX_ENTRY_DEPTH`] (none expected).
    pub depth_cuts: Cell<usize>,
    /// Analyses inside cycle groups (recomputed per entry), for traces.
    pub cycle_analyses: Cell<usize>,
    pub max_entry_depth: Cell<usize>,
    contexts_memo: RefCell<HashMap<FnId, Rc<Vec<ConstMap>>, Fast>>,
    /// [`Program::local_facts`] of callers, asked once per callee.
    facts_memo: RefCell<HashMap<(FnId, EnvKey), Rc<ConstMap>, Fast>>,
    /// [`Program::predicate_value`] by context, and how deep it is nested.
    predicate_memo: RefCell<HashMap<(FnId, EnvKey), Option<i64>, Fast>>,
    constant_return_memo: RefCell<HashMap<FnId, Option<i64>, Fast>>,
    zeroing_memo: RefCell<HashMap<FnId, bool, Fast>>,
    /// [`Program::returned_bits`] by callee.
    returned_bits_memo: RefCell<HashMap<FnId, Option<u64>, Fast>>,
    zeroed_vars_memo: RefCell<HashMap<FnId, Rc<Vec<VarId>>, Fast>>,
    predicate_depth: Cell<u32>,
    /// [`Program::stable_calls`] per function.
    stable_memo: RefCell<HashMap<FnId, Rc<stable_calls::StableCalls>, Fast>>,
    /// The answer for the (many) functions that make no stable call.
    no_stable_calls: Rc<stable_calls::StableCalls>,
    /// The catalogue's task flags for this program's functions.
    task_flags: task_flags::TaskFlagTable,
    /// Per (function, flags set on entry): the flags set at each call.
    task_flags_memo: task_flags::FlagsMemo,
    /// [`Program::field_writes`] per function.
    field_writes_memo: RefCell<HashMap<FnId, Rc<Vec<FieldStore>>, Fast>>,
    /// [`Program::post_states`] per (function, parameter).
    post_states_memo: field_states::PostMemo,
    may_inform_memo: field_states::MayInformMemo,
    /// The field alternatives at each call of a function ([`field_states`]).
    call_states_memo: field_states::CallStatesMemo,
    /// Fields behind parameters tested before they are assigned, per function.
    tested_first_memo: RefCell<HashMap<FnId, Rc<Vec<VarId>>, Fast>>,
    /// Functions promised a hold on entry called with the lock held for write.
    pub called_under_write: RefCell<HashSet<FnId, Fast>>,
    /// Functions promised a hold on entry called with the lock held in any mode.
    pub called_under_lock: RefCell<HashSet<FnId, Fast>>,
    /// Callees reached under a write hold that have no definition in the
    /// analyzed files (the run looks for their definitions elsewhere).
    pub unresolved_under_write: RefCell<BTreeSet<String>>,
    /// Chains converted to and from their stored form, by link: a summary's
    /// chains share their tails with its callees' (see [`crate::chain`]).
    stored_chains: RefCell<ChainCache<(FnId, CallId), (StableKey, CallId)>>,
    restored_chains: RefCell<ChainCache<(StableKey, CallId), (FnId, CallId)>>,
}

type ChainCache<T, U> = HashMap<usize, (crate::chain::Chain<T>, crate::chain::Chain<U>), Fast>;

impl<'c> Program<'c> {
    /// A program over `functions` and their call graph (built once per
    /// round and shared by the round's analysis threads).
    pub fn new(
        cat: &'c Catalogue,
        files: std::sync::Arc<Vec<String>>,
        functions: Vec<std::sync::Arc<Function>>,
        graph: std::sync::Arc<CallGraph>,
        store: &'c SummaryStore,
        macros: &'c crate::macro_values::MacroTable,
    ) -> Program<'c> {
        let task_flags = task_flags::TaskFlagTable::new(cat, &functions, &graph.callers);
        Program {
            task_flags,
            task_flags_memo: RefCell::default(),
            cat,
            files,
            functions,
            graph,
            memo: RefCell::default(),
            store,
            macros,
            entries: RefCell::default(),
            depth_cuts: Cell::new(0),
            cycle_analyses: Cell::new(0),
            max_entry_depth: Cell::new(0),
            contexts_memo: RefCell::default(),
            facts_memo: RefCell::default(),
            predicate_memo: RefCell::default(),
            constant_return_memo: RefCell::default(),
            zeroing_memo: RefCell::default(),
            returned_bits_memo: RefCell::default(),
            zeroed_vars_memo: RefCell::default(),
            predicate_depth: Cell::new(0),
            stable_memo: RefCell::default(),
            no_stable_calls: Rc::default(),
            field_writes_memo: RefCell::default(),
            post_states_memo: RefCell::default(),
            may_inform_memo: RefCell::default(),
            call_states_memo: RefCell::default(),
            tested_first_memo: RefCell::default(),
            called_under_write: RefCell::default(),
            called_under_lock: RefCell::default(),
            unresolved_under_write: RefCell::default(),
            stored_chains: Default::default(),
            restored_chains: Default::default(),
        }
    }

    /// Cycle groups with more than one member: (count, largest, functions in them).
    pub fn cycle_group_sizes(&self) -> (usize, usize, usize) {
        self.graph.cycle_group_sizes()
    }

    pub fn function(&self, id: FnId) -> &Function {
        &self.functions[id as usize]
    }

    /// Functions that take the mmap lock or are promised a hold on entry.
    pub fn roots(&self) -> Vec<FnId> {
        (0..self.functions.len() as FnId)
            .filter(|&id| {
                let f = self.function(id);
                f.entry_hint.is_some()
                    || f.calls.iter().any(|c| {
                        c.catalogued.lock_call
                            && lock_api(self.cat, c).is_some_and(|e| e.op == LockOp::Acquire)
                    })
            })
            .collect()
    }

    /// The definition a call resolves to, if any.
    pub fn callee(&self, fid: FnId, cid: CallId) -> Option<FnId> {
        self.graph.resolved[fid as usize][cid as usize]
    }

    /// The definition a call runs in a context: its static resolution, or
    /// for a call through a function-pointer parameter, the function the
    /// context says was handed to it (one that some caller hands there).
    pub(super) fn target(&self, fid: FnId, cid: CallId, facts: &ConstMap) -> Option<FnId> {
        if let Some(g) = self.graph.resolved[fid as usize][cid as usize] {
            return Some(g);
        }
        let targets = self.graph.param_targets.get(&(fid, cid))?;
        let code = facts.get(&self.function(fid).calls[cid as usize].callee)?;
        self.graph
            .by_fn_code
            .get(code)
            .copied()
            .filter(|t| targets.contains(t))
    }

    pub fn find(&self, name: &str) -> Vec<FnId> {
        (0..self.functions.len() as FnId)
            .filter(|&i| self.function(i).name == name)
            .collect()
    }
}

/// An entry being analyzed: its cycle session if its group has a cycle,
/// and what its summary will record.
struct EntryFrame {
    cycle: Option<CycleSession>,
    noted: Vec<Noted>,
    children: Vec<SummaryKey>,
}

/// What is memoized inside a cycle group for one entry.
struct CycleSession {
    memo: HashMap<(FnId, EnvKey), Rc<FnResult>, Fast>,
    in_progress: HashSet<(FnId, EnvKey), Fast>,
    depth: u32,
}

/// A context as a memo key: its constants, sorted, and the numbers the
/// tree's macros give the flags among them (a summary kept for another
/// revision whose `FGP_LOCK` had other bits is not this one's).
pub fn env_key(env: &ConstMap, macros: &crate::macro_values::MacroTable) -> EnvKey {
    let mut key: EnvKey = env.iter().map(|(k, v)| (k.clone(), *v)).collect();
    let numbers: Vec<(String, i64)> = key
        .iter()
        .filter_map(|(k, v)| {
            let bits = crate::symbolic::bits_known(*v, &|s| macros.value(s))?;
            let (crate::symbolic::Bits::Exact(n)
            | crate::symbolic::Bits::AtLeast(n)
            | crate::symbolic::Bits::AtMost(n)) = bits;
            (n as i64 != *v).then(|| (format!("{k}#"), n as i64))
        })
        .collect();
    key.extend(numbers);
    key.sort();
    key
}
