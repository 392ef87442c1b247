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

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::rc::Rc;

use crate::catalogue::{Catalogue, LockOp, LongClass};
use crate::ir::*;
use crate::lockstate::*;
use crate::summary_store::{
    hash128, ClosureKey, EnvKey, Noted, StableKey, StoredHit, StoredSummary, SummaryKey,
    SummaryStore,
};

pub type FnId = u32;
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

/// Which bounds cut a result (bit set of `CUT_*`).
pub type Cuts = u8;
/// A call chain of more than [`MAX_ENTRY_DEPTH`] entries.
pub const CUT_CHAIN_DEPTH: Cuts = 1;
/// A call more than [`MAX_DEPTH`] calls into a call cycle.
pub const CUT_CYCLE_DEPTH: Cuts = 2;
/// More than [`MAX_HITS_PER_FUNCTION`] long call sites behind one function.
pub const CUT_HITS: Cuts = 4;

/// What the bounds in `cuts` mean, for the output.
pub fn describe_cuts(cuts: Cuts) -> String {
    let mut what = Vec::new();
    if cuts & CUT_CHAIN_DEPTH != 0 {
        what.push(format!("call chain deeper than {MAX_ENTRY_DEPTH} calls"));
    }
    if cuts & CUT_CYCLE_DEPTH != 0 {
        what.push(format!("more than {MAX_DEPTH} calls into a call cycle"));
    }
    if cuts & CUT_HITS != 0 {
        what.push(format!(
            "more than {MAX_HITS_PER_FUNCTION} long operations reached through one function"
        ));
    }
    what.join("; ")
}

/// The hasher of the analysis's lookup tables (never iterated: their
/// order cannot reach a result).
pub type Fast = foldhash::fast::RandomState;

/// Limits that keep the analysis bounded on whole trees.
/// Calls followed inside one cycle group from its entry.
pub const MAX_DEPTH: u32 = 40;
/// Cycle groups entered one inside another: a guard for the stack (the
/// driver runs the analysis on a thread with [`ANALYSIS_STACK`] bytes), far
/// above what a kernel call graph needs; a cut here is counted in
/// [`Program::depth_cuts`], and the summaries it reaches into are not stored
/// (a cut result depends on the path that asked for it).
pub const MAX_ENTRY_DEPTH: usize = 3000;
/// The stack of the thread the analysis runs on.
pub const ANALYSIS_STACK: usize = 256 << 20;
const MAX_CONTEXTS: usize = 8;
/// Values a root is split on by [`Program::case_split`].
const MAX_CASE_SPLIT: usize = 40;
pub const MAX_HITS_PER_FUNCTION: usize = 64;

pub struct Program<'c> {
    pub cat: &'c Catalogue,
    /// Shared with the driver's other rounds.
    pub files: std::sync::Arc<Vec<String>>,
    /// Shared with the driver's other rounds (each round's program adds to them).
    pub functions: Vec<std::sync::Arc<Function>>,
    resolved: Vec<Vec<Option<FnId>>>,
    callers: Vec<Vec<(FnId, CallId)>>,
    may_touch_lock: Vec<bool>,
    may_reach_long: Vec<bool>,
    memo: RefCell<HashMap<(FnId, EnvKey), Rc<FnResult>, Fast>>,
    /// Summaries shared with other programs (rounds, revisions).
    store: &'c SummaryStore,
    /// Per function: its file and text ([`StableKey`]), and its reach.
    stable: Vec<StableKey>,
    closure: Vec<ClosureKey>,
    by_stable: HashMap<StableKey, FnId, Fast>,
    by_closure: HashMap<ClosureKey, FnId, Fast>,
    /// Per function, its cycle group; per group, whether it has a cycle.
    group: Vec<u32>,
    cyclic: Vec<bool>,
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
    /// Functions promised a hold on entry called with the lock held for write.
    pub called_under_write: RefCell<HashSet<FnId, Fast>>,
    /// Functions promised a hold on entry called with the lock held in any mode.
    pub called_under_lock: RefCell<HashSet<FnId, Fast>>,
    /// Callees reached under a write hold that have no definition in the
    /// analyzed files (the driver looks for their definitions elsewhere).
    pub unresolved_under_write: RefCell<BTreeSet<String>>,
    /// Functions passed as rmap_walk callbacks (`.rmap_one = f`), found lexically.
    pub rmap_callbacks: Vec<String>,
    /// Chains converted to and from their stored form, by link: a summary's
    /// chains share their tails with its callees' (see [`crate::chain`]).
    stored_chains: RefCell<ChainCache<(FnId, CallId), (StableKey, CallId)>>,
    restored_chains: RefCell<ChainCache<(StableKey, CallId), (FnId, CallId)>>,
}

type ChainCache<T, U> = HashMap<usize, (crate::chain::Chain<T>, crate::chain::Chain<U>), Fast>;

impl<'c> Program<'c> {
    pub fn new(
        cat: &'c Catalogue,
        files: std::sync::Arc<Vec<String>>,
        functions: Vec<std::sync::Arc<Function>>,
        store: &'c SummaryStore,
    ) -> Program<'c> {
        let mut by_name: HashMap<&str, Vec<FnId>, foldhash::fast::RandomState> = HashMap::default();
        for (i, f) in functions.iter().enumerate() {
            by_name.entry(f.name.as_str()).or_default().push(i as FnId);
        }
        let resolve = |caller: &Function, name: &str| -> Option<FnId> {
            let cands = by_name.get(name)?;
            cands
                .iter()
                .find(|&&c| functions[c as usize].file == caller.file)
                .or_else(|| cands.iter().find(|&&c| !functions[c as usize].is_static))
                .or_else(|| cands.first())
                .copied()
        };
        let resolved: Vec<Vec<Option<FnId>>> = functions
            .iter()
            .map(|f| {
                f.calls
                    .iter()
                    .map(|c| {
                        if c.catalogued.long_op {
                            None
                        } else {
                            resolve(f, &c.callee)
                        }
                    })
                    .collect()
            })
            .collect();
        let mut callers = vec![Vec::new(); functions.len()];
        for (fi, calls) in resolved.iter().enumerate() {
            for (ci, callee) in calls.iter().enumerate() {
                if let Some(g) = callee {
                    callers[*g as usize].push((fi as FnId, ci as CallId));
                }
            }
        }
        let direct_lock: Vec<bool> = functions
            .iter()
            .map(|f| f.calls.iter().any(|c| c.catalogued.lock_call))
            .collect();
        // A call to a function with no definition here may be long too: the
        // analysis must descend to it so the driver can pull its definition.
        let direct_long: Vec<bool> = functions
            .iter()
            .zip(&resolved)
            .map(|(f, res)| {
                f.calls.iter().zip(res).any(|(c, r)| {
                    let k = c.catalogued;
                    k.long_op || (r.is_none() && !k.lock_name && !k.assertion)
                })
            })
            .collect();
        let may_touch_lock = propagate(&direct_lock, &callers);
        let may_reach_long = propagate(&direct_long, &callers);
        let stable = stable_keys(&files, &functions);
        let groups = cycle_groups(&resolved);
        let closure = closure_keys(&stable, &resolved, &groups);
        let by_stable = stable
            .iter()
            .enumerate()
            .map(|(i, k)| (*k, i as FnId))
            .collect();
        let by_closure = closure
            .iter()
            .enumerate()
            .map(|(i, k)| (*k, i as FnId))
            .collect();
        Program {
            cat,
            files,
            functions,
            resolved,
            callers,
            may_touch_lock,
            may_reach_long,
            memo: RefCell::default(),
            store,
            stable,
            closure,
            by_stable,
            by_closure,
            group: groups.of,
            cyclic: groups.cyclic,
            entries: RefCell::default(),
            depth_cuts: Cell::new(0),
            cycle_analyses: Cell::new(0),
            max_entry_depth: Cell::new(0),
            contexts_memo: RefCell::default(),
            facts_memo: RefCell::default(),
            called_under_write: RefCell::default(),
            called_under_lock: RefCell::default(),
            unresolved_under_write: RefCell::default(),
            rmap_callbacks: Vec::new(),
            stored_chains: Default::default(),
            restored_chains: Default::default(),
        }
    }

    /// Cycle groups with more than one member: (count, largest, functions in them).
    pub fn cycle_group_sizes(&self) -> (usize, usize, usize) {
        let mut sizes: HashMap<u32, usize, Fast> = HashMap::default();
        for &g in &self.group {
            *sizes.entry(g).or_insert(0) += 1;
        }
        let big: Vec<usize> = sizes.values().copied().filter(|&n| n > 1).collect();
        (
            big.len(),
            big.iter().copied().max().unwrap_or(0),
            big.iter().sum(),
        )
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
        self.resolved[fid as usize][cid as usize]
    }

    pub fn find(&self, name: &str) -> Vec<FnId> {
        (0..self.functions.len() as FnId)
            .filter(|&i| self.function(i).name == name)
            .collect()
    }

    /// Constants a function's locals and struct fields hold in a context,
    /// flow-insensitively: a variable is constant only if every assignment in
    /// the function gives it the same constant.
    pub fn local_facts<'p>(&'p self, fid: FnId, env: &ConstMap) -> ConstMap {
        let f = self.function(fid);
        // Keys borrow the function's variable names (most facts are about them).
        let mut candidates: HashMap<std::borrow::Cow<'p, str>, Option<i64>, Fast> =
            HashMap::default();
        let mut merge = |k: std::borrow::Cow<'p, str>, v: Option<i64>| {
            candidates
                .entry(k)
                .and_modify(|old| {
                    if *old != v {
                        *old = None
                    }
                })
                .or_insert(v);
        };
        let value = |v: &Value| match v {
            Value::Const(c) => Some(*c),
            Value::Path(p) => env.get(p).copied(),
            _ => None,
        };
        for node in &f.cfg.nodes {
            for ev in &node.events {
                match ev {
                    Event::Assign { var, value: v } => merge(f.var_name(*var).into(), value(v)),
                    Event::Call(cid) => {
                        let call = &f.calls[*cid as usize];
                        let Some(g) = self.resolved[fid as usize][*cid as usize] else {
                            continue;
                        };
                        for store in &self.function(g).field_stores {
                            let Some(base) =
                                call.args.get(store.param).and_then(|a| normalize_path(a))
                            else {
                                continue;
                            };
                            let v = match &store.source {
                                StoreSource::Const(c) => Some(*c),
                                StoreSource::Param(j) => call.arg_values.get(*j).and_then(value),
                            };
                            merge(format!("{base}.{}", store.field).into(), v);
                        }
                    }
                }
            }
        }
        let mut facts = env.clone();
        for (k, v) in candidates {
            match v {
                Some(v) => facts.insert(k.into_owned(), v),
                None => facts.remove(k.as_ref()),
            };
        }
        facts
    }

    /// [`Program::local_facts`], memoized (a pure function of the program).
    fn memo_facts(&self, fid: FnId, env: &ConstMap) -> Rc<ConstMap> {
        let key = (fid, env_key(env));
        if let Some(f) = self.facts_memo.borrow().get(&key) {
            return f.clone();
        }
        let facts = Rc::new(self.local_facts(fid, env));
        self.facts_memo.borrow_mut().insert(key, facts.clone());
        facts
    }

    /// The context a call gives its callee.
    fn callee_env(&self, call: &CallSite, callee: FnId, facts: &ConstMap) -> ConstMap {
        let g = self.function(callee);
        let mut env = ConstMap::default();
        for (j, pname) in g.params.iter().enumerate() {
            if pname.is_empty() {
                continue;
            }
            match call.arg_values.get(j) {
                Some(Value::Const(c)) => {
                    env.insert(pname.clone(), *c);
                }
                Some(Value::Path(p)) => {
                    if let Some(v) = facts.get(p) {
                        env.insert(pname.clone(), *v);
                    }
                    // Fields of the argument: `p.rest` becomes `pname.rest`.
                    for (k, v) in facts {
                        if let Some(rest) =
                            k.strip_prefix(p.as_str()).and_then(|r| r.strip_prefix('.'))
                        {
                            env.insert(format!("{pname}.{rest}"), *v);
                        }
                    }
                }
                _ => {}
            }
        }
        // "Any other value" holds only for the comparisons it was split on:
        // the function's own and its predicates'.
        if !self.is_pure_predicate(callee) {
            env.retain(|_, v| *v != OTHER_VALUE);
        }
        env
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
            for &v in values.iter().chain([&OTHER_VALUE]) {
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
    /// ([`OTHER_VALUE`]), so the lock mode the predicate picks follows the
    /// parameter into the function's own `switch (behavior)`. None when a
    /// comparison is not an equality with a constant, or there are more than
    /// [`MAX_CASE_SPLIT`] values.
    fn case_split(&self, fid: FnId) -> Option<(String, Vec<i64>)> {
        let f = self.function(fid);
        for (cid, call) in f.calls.iter().enumerate() {
            let Some(g) = self.resolved[fid as usize][cid] else {
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
                if values.len() <= MAX_CASE_SPLIT && !values.contains(&OTHER_VALUE) {
                    return Some((p.clone(), values));
                }
            }
        }
        None
    }

    /// Neither touches the lock nor reaches a long operation (nor an
    /// unresolved call): what it returns is all a caller learns from it.
    fn is_pure_predicate(&self, g: FnId) -> bool {
        !self.may_touch_lock[g as usize] && !self.may_reach_long[g as usize]
    }

    /// A pure predicate defined in the caller's file: a name defined in many
    /// places (`test_bit`, config stubs returning a constant) may resolve to
    /// a definition the caller does not use, and its constant result would
    /// prune the caller's real paths; a same-file definition is the one used.
    fn is_local_predicate(&self, caller: FnId, g: FnId) -> bool {
        self.is_pure_predicate(g) && self.function(g).file == self.function(caller).file
    }

    fn caller_contexts(&self, fid: FnId, depth: u32) -> Rc<Vec<ConstMap>> {
        if let Some(c) = self.contexts_memo.borrow().get(&fid) {
            return c.clone();
        }
        let unknown = Rc::new(vec![ConstMap::default()]);
        if depth >= 3 || self.callers[fid as usize].is_empty() {
            return unknown;
        }
        // Cut cycles: while computing, this function has the unknown context.
        self.contexts_memo.borrow_mut().insert(fid, unknown.clone());
        let mut out: Vec<ConstMap> = Vec::new();
        let mut has_unknown = false;
        for &(g, cid) in &self.callers[fid as usize] {
            for genv in self.caller_contexts(g, depth + 1).iter() {
                let facts = self.memo_facts(g, genv);
                let env = self.callee_env(&self.function(g).calls[cid as usize], fid, &facts);
                if env.is_empty() {
                    has_unknown = true;
                } else if !out.contains(&env) {
                    out.push(env);
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

    /// A root's result in a context.
    pub fn analyze(&self, fid: FnId, env: &ConstMap) -> Rc<FnResult> {
        self.analyze_entry(fid, env)
    }

    /// The result of `fid` called from `caller`.
    fn analyze_call(&self, caller: FnId, fid: FnId, env: &ConstMap) -> Rc<FnResult> {
        let group = self.group[fid as usize];
        if self.group[caller as usize] == group && self.cyclic[group as usize] {
            self.analyze_in_cycle(fid, env)
        } else {
            self.analyze_entry(fid, env)
        }
    }

    /// A call from outside `fid`'s cycle group (or a root): the result is
    /// memoized for the program, and stored for others, unless taken from the
    /// store.
    fn analyze_entry(&self, fid: FnId, env: &ConstMap) -> Rc<FnResult> {
        let env_key = env_key(env);
        let summary_key: SummaryKey = (self.closure[fid as usize], env_key);
        if let Some(top) = self.entries.borrow_mut().last_mut() {
            top.children.push(summary_key.clone());
        }
        let memo_key = (fid, summary_key.1.clone());
        if let Some(r) = self.memo.borrow().get(&memo_key) {
            return r.clone();
        }
        if let Some(r) = self.reuse(fid, &summary_key) {
            return r;
        }
        if self.entries.borrow().len() >= MAX_ENTRY_DEPTH {
            self.depth_cuts.set(self.depth_cuts.get() + 1);
            return Rc::new(FnResult {
                effect: Effect::identity(),
                entry_cut: CUT_CHAIN_DEPTH,
                ..Default::default()
            });
        }
        let group = self.group[fid as usize];
        let cycle = self.cyclic[group as usize].then(|| CycleSession {
            memo: HashMap::default(),
            in_progress: HashSet::from_iter([memo_key.clone()]),
            depth: 1,
        });
        self.entries.borrow_mut().push(EntryFrame {
            cycle,
            noted: Vec::new(),
            children: Vec::new(),
        });
        self.max_entry_depth
            .set(self.max_entry_depth.get().max(self.entries.borrow().len()));
        let cuts_before = self.depth_cuts.get();
        let result = Rc::new(self.analyze_uncached(fid, env));
        let frame = self
            .entries
            .borrow_mut()
            .pop()
            .expect("the entry pushed above");
        // A result cut by the entry limit depends on how deep it was asked
        // for: kept for this program, never offered to another.
        if self.depth_cuts.get() == cuts_before {
            self.store
                .insert(summary_key, self.to_stored(&result, frame));
        }
        self.memo.borrow_mut().insert(memo_key, result.clone());
        result
    }

    /// A call inside the cycle group being analyzed from its entry.
    fn analyze_in_cycle(&self, fid: FnId, env: &ConstMap) -> Rc<FnResult> {
        let key = (fid, env_key(env));
        let cut = |entry_cut| {
            Rc::new(FnResult {
                effect: Effect::identity(),
                entry_cut,
                ..Default::default()
            })
        };
        {
            let entries = self.entries.borrow();
            let Some(session) = entries.last().and_then(|e| e.cycle.as_ref()) else {
                return cut(0);
            };
            if let Some(r) = session.memo.get(&key) {
                return r.clone();
            }
            // A call back to a function in progress is the cycle closing (its
            // hits are those of the analysis in progress); a call past the
            // depth bound loses what lies beyond, if it can reach anything.
            if session.in_progress.contains(&key) {
                return cut(0);
            }
            if session.depth >= MAX_DEPTH {
                return cut(if self.may_reach_long[fid as usize] {
                    CUT_CYCLE_DEPTH
                } else {
                    0
                });
            }
        }
        self.cycle_analyses.set(self.cycle_analyses.get() + 1);
        self.with_session(|s| {
            s.in_progress.insert(key.clone());
            s.depth += 1;
        });
        let result = Rc::new(self.analyze_uncached(fid, env));
        self.with_session(|s| {
            s.depth -= 1;
            s.in_progress.remove(&key);
            s.memo.insert(key, result.clone());
        });
        result
    }

    fn with_session(&self, f: impl FnOnce(&mut CycleSession)) {
        if let Some(s) = self
            .entries
            .borrow_mut()
            .last_mut()
            .and_then(|e| e.cycle.as_mut())
        {
            f(s)
        }
    }

    /// A stored summary of `fid` (with those it asked for), if the store has
    /// it: its notes are applied to this program as if it had been computed.
    fn reuse(&self, fid: FnId, key: &SummaryKey) -> Option<Rc<FnResult>> {
        let stored = self.store.get(key)?;
        for child in &stored.children {
            let &cf = self.by_closure.get(&child.0)?;
            if !self.memo.borrow().contains_key(&(cf, child.1.clone())) {
                self.reuse(cf, child)?;
            }
        }
        let result = Rc::new(self.restore(&stored)?);
        for note in &stored.noted {
            self.apply_note(note);
        }
        self.memo
            .borrow_mut()
            .insert((fid, key.1.clone()), result.clone());
        self.store.count_reuse();
        Some(result)
    }

    fn to_stored(&self, result: &FnResult, frame: EntryFrame) -> StoredSummary {
        let mut done = self.stored_chains.borrow_mut();
        let mut hit = |h: &Hit| StoredHit {
            class: h.class,
            held: h.held,
            chain: h
                .chain
                .map_shared(&mut *done, |(f, c)| Some((self.stable[f as usize], c)))
                .expect("every function has a stable key"),
            acquired: h.acquired,
        };
        let EntryFrame {
            mut noted,
            mut children,
            ..
        } = frame;
        noted.sort();
        noted.dedup();
        children.sort();
        children.dedup();
        StoredSummary {
            effect: result.effect.clone(),
            entry_hits: result.entry_hits.iter().map(&mut hit).collect(),
            local_hits: result.local_hits.iter().map(&mut hit).collect(),
            entry_cut: result.entry_cut,
            local_cut: result.local_cut,
            noted,
            children,
        }
    }

    fn restore(&self, stored: &StoredSummary) -> Option<FnResult> {
        let mut done = self.restored_chains.borrow_mut();
        let mut hits = |hs: &[StoredHit]| -> Option<Vec<Hit>> {
            hs.iter()
                .map(|h| {
                    let chain = h
                        .chain
                        .map_shared(&mut *done, |(k, c)| self.by_stable.get(&k).map(|&f| (f, c)))?;
                    Some(Hit {
                        class: h.class,
                        held: h.held,
                        chain,
                        acquired: h.acquired,
                    })
                })
                .collect()
        };
        Some(FnResult {
            effect: stored.effect.clone(),
            entry_hits: hits(&stored.entry_hits)?,
            local_hits: hits(&stored.local_hits)?,
            entry_cut: stored.entry_cut,
            local_cut: stored.local_cut,
        })
    }

    /// Records what the analysis noted, for this program and the summary
    /// being computed.
    fn note(&self, note: Noted) {
        self.apply_note(&note);
        if let Some(top) = self.entries.borrow_mut().last_mut() {
            top.noted.push(note);
        }
    }

    fn apply_note(&self, note: &Noted) {
        match note {
            Noted::CalledUnderLock { callee, write } => {
                let Some(&g) = self.by_stable.get(callee) else {
                    return;
                };
                self.called_under_lock.borrow_mut().insert(g);
                if *write {
                    self.called_under_write.borrow_mut().insert(g);
                }
            }
            Noted::UnresolvedUnderWrite(name) => {
                let mut unresolved = self.unresolved_under_write.borrow_mut();
                if !unresolved.contains(name) {
                    unresolved.insert(name.clone());
                }
            }
        }
    }

    fn analyze_uncached(&self, fid: FnId, env: &ConstMap) -> FnResult {
        let f = self.function(fid);
        let facts = self.local_facts(fid, env);
        let by_var: Vec<Option<i64>> = f.vars.iter().map(|v| facts.get(v).copied()).collect();
        let consts = Consts { by_var: &by_var };
        let n = f.cfg.nodes.len();
        let mut in_states: Vec<State> = vec![State::new(); n];
        in_states[f.cfg.entry as usize] = entry_state();
        // A call site's callee result, once per analysis: the facts (hence
        // the callee's context) do not change during it, and a repeated
        // request gets what the first got (memoized, or the same cut: the
        // keys in progress and the depth are those of this analysis).
        let callees: CalleeResults = RefCell::new(vec![None; f.calls.len()]);
        let frame = Frame {
            consts: &consts,
            facts: &facts,
            callees: &callees,
        };
        let mut worklist = vec![f.cfg.entry];
        let mut queued = vec![false; n];
        queued[f.cfg.entry as usize] = true;
        while let Some(node) = worklist.pop() {
            queued[node as usize] = false;
            let outs = self.transfer_node(fid, node, &in_states[node as usize], &frame, None);
            for (succ, st) in outs {
                if in_states[succ as usize].union_with(&st) > 0 && !queued[succ as usize] {
                    queued[succ as usize] = true;
                    worklist.push(succ);
                }
            }
        }
        let mut hits = HitCollector::default();
        for node in 0..n as NodeId {
            if !in_states[node as usize].is_empty() {
                self.transfer_node(
                    fid,
                    node,
                    &in_states[node as usize],
                    &frame,
                    Some(&mut hits),
                );
            }
        }
        FnResult {
            effect: effect_of_exit(&in_states[f.cfg.exit as usize], f.var_id(RETURN_VAR)),
            entry_hits: hits.entry.into_values().collect(),
            local_hits: hits.local.into_values().collect(),
            entry_cut: hits.entry_cut,
            local_cut: hits.local_cut,
        }
    }

    fn transfer_node(
        &self,
        fid: FnId,
        node: NodeId,
        state: &State,
        frame: &Frame,
        mut hits: Option<&mut HitCollector>,
    ) -> Vec<(NodeId, State)> {
        let Frame {
            consts,
            facts,
            callees,
        } = *frame;
        let f = self.function(fid);
        let nd = &f.cfg.nodes[node as usize];
        let mut s = state.clone();
        for ev in &nd.events {
            match ev {
                Event::Call(cid) => {
                    if let Some(h) = hits.as_deref_mut() {
                        self.check_hits(fid, *cid, &s, facts, callees, h);
                    }
                    s = self.transfer_call(fid, *cid, &s, facts, callees);
                }
                Event::Assign { var, value } => {
                    let is_return = f.var_name(*var) == RETURN_VAR;
                    let source = match value {
                        Value::CallResult(c) => AssignSource::Var(f.calls[*c as usize].result_var),
                        Value::Const(c) => AssignSource::Const(*c),
                        Value::Path(p) => f
                            .var_id(p)
                            .map(AssignSource::Var)
                            .unwrap_or(AssignSource::Other),
                        Value::Unknown => AssignSource::Other,
                    };
                    if is_return || s.iter().any(|e| e.guard.is_some()) {
                        s = apply_assign(&s, *var, source, is_return);
                    }
                }
            }
        }
        if hits.is_some() {
            // The pass that collects hits keeps no successor state.
            return Vec::new();
        }
        if let Some((switched, cases)) = &nd.switch {
            return route_switch(&s, switched, cases, &nd.succ, consts);
        }
        match (&nd.branch, nd.succ.as_slice()) {
            (Some(cond), [t, f_]) => {
                let (ts, fs) = route(&s, cond, consts);
                vec![(*t, ts), (*f_, fs)]
            }
            (_, [only]) => vec![(*only, s)],
            (_, succs) => succs.iter().map(|&x| (x, s.clone())).collect(),
        }
    }

    /// What the callee `g` of call `cid` does in the context the call gives it.
    fn callee_result(
        &self,
        fid: FnId,
        cid: CallId,
        g: FnId,
        facts: &ConstMap,
        callees: &CalleeResults,
    ) -> Rc<FnResult> {
        if let Some(r) = callees.borrow().get(cid as usize).cloned().flatten() {
            return r;
        }
        let env = self.callee_env(&self.function(fid).calls[cid as usize], g, facts);
        let r = self.analyze_call(fid, g, &env);
        if let Some(slot) = callees.borrow_mut().get_mut(cid as usize) {
            *slot = Some(r.clone());
        }
        r
    }

    fn transfer_call(
        &self,
        fid: FnId,
        cid: CallId,
        s: &State,
        facts: &ConstMap,
        callees: &CalleeResults,
    ) -> State {
        let f = self.function(fid);
        let call = &f.calls[cid as usize];
        if let Some(entry) = call
            .catalogued
            .lock_call
            .then(|| lock_api(self.cat, call))
            .flatten()
        {
            return apply_lock_call(s, entry, cid, call.result_var);
        }
        if let Some(g) = self.resolved[fid as usize][cid as usize] {
            if self.may_touch_lock[g as usize] {
                let r = self.callee_result(fid, cid, g, facts, callees);
                if !r.effect.is_identity() {
                    return apply_effect(s, &r.effect, cid, call.result_var);
                }
            } else if self.is_local_predicate(fid, g) && !self.callee_env(call, g, facts).is_empty()
            {
                // A predicate of constant arguments returns a constant the
                // caller can branch on (`if (write)` after
                // `write = madvise_need_mmap_write(behavior)`).
                let r = self.callee_result(fid, cid, g, facts, callees);
                if let [(_, _, Some(value))] = r.effect.exits[Held::None.index()].as_slice() {
                    return s
                        .iter()
                        .map(|e| Elem {
                            guard: Some((call.result_var, *value)),
                            ..*e
                        })
                        .collect();
                }
            }
        }
        s.clone()
    }

    fn check_hits(
        &self,
        fid: FnId,
        cid: CallId,
        s: &State,
        facts: &ConstMap,
        callees: &CalleeResults,
        hits: &mut HitCollector,
    ) {
        if s.iter().all(|e| e.held == Held::None) {
            return;
        }
        let holders: Vec<&Elem> = s.iter().filter(|e| e.held != Held::None).collect();
        let any_write = holders.iter().any(|e| e.held == Held::Write);
        let f = self.function(fid);
        let call = &f.calls[cid as usize];
        // (class, chain, the mode the caller must hold for it to count)
        let mut reached: Vec<(LongClass, Chain, Option<Held>)> = Vec::new();
        if let Some(op) = call
            .catalogued
            .long_op
            .then(|| self.cat.long_ops.get(&call.callee))
            .flatten()
        {
            // A wait on an object this function has just allocated cannot block.
            let fresh_wait = op.class == LongClass::IoWait && call.on_fresh_object;
            if (!op.in_loop || call.in_loop) && !fresh_wait {
                reached.push((op.class, Chain::single((fid, cid)), None));
            }
        } else if self.cat.not_followed.contains_key(&call.callee) {
            // What the callee does under the lock is bounded or cannot
            // happen there (catalogue `[not_followed]`): nothing is reached.
        } else if let Some(g) = self.resolved[fid as usize][cid as usize] {
            // Only asked of functions promised a hold on entry (is a caller
            // their holder?): only those are noted, which keeps replays short.
            if self.function(g).entry_hint.is_some() {
                self.note(Noted::CalledUnderLock {
                    callee: self.stable[g as usize],
                    write: any_write,
                });
            }
            if self.may_reach_long[g as usize] {
                let r = self.callee_result(fid, cid, g, facts, callees);
                // What was cut below is cut for the holders here.
                if r.entry_cut != 0 {
                    for e in &holders {
                        if e.origin == ORIGIN_ENTRY {
                            hits.entry_cut |= r.entry_cut;
                        } else {
                            hits.local_cut |= r.entry_cut;
                        }
                    }
                }
                let may_wait = self.cat.fault_path.call_may_wait(&call.callee, &call.args);
                for h in r
                    .entry_hits
                    .iter()
                    .filter(|h| may_wait || h.class != LongClass::IoWait)
                {
                    let chain = Chain::prepend((fid, cid), &h.chain);
                    reached.push((h.class, chain, Some(h.held)));
                }
            }
        } else if any_write && !call.catalogued.lock_call && !call.catalogued.assertion {
            self.note(Noted::UnresolvedUnderWrite(call.callee.clone()));
        }
        for (class, chain, needs_entry) in reached {
            for e in &holders {
                if class.needs_write() && e.held != Held::Write {
                    continue;
                }
                if needs_entry.is_some_and(|m| m != e.held) {
                    continue;
                }
                let (target, cut) = if e.origin == ORIGIN_ENTRY {
                    if e.entry != e.held {
                        continue;
                    }
                    (&mut hits.entry, &mut hits.entry_cut)
                } else {
                    (&mut hits.local, &mut hits.local_cut)
                };
                let site = chain.last();
                // Keyed by stable key, not id: the order of a result's hits
                // is then the same in every program that has the function.
                let key = ((self.stable[site.0 as usize], site.1), e.origin, e.held);
                if target.len() >= MAX_HITS_PER_FUNCTION && !target.contains_key(&key) {
                    *cut |= CUT_HITS;
                    continue;
                }
                let hit = Hit {
                    class,
                    held: e.held,
                    chain: chain.clone(),
                    acquired: e.origin,
                };
                target
                    .entry(key)
                    .and_modify(|old| {
                        if hit.chain.len() < old.chain.len() {
                            *old = hit.clone();
                        }
                    })
                    .or_insert(hit);
            }
        }
    }
}

/// Per call site of the function being analyzed, its callee's result.
type CalleeResults = RefCell<Vec<Option<Rc<FnResult>>>>;

/// What one analysis of a function works with at every node.
#[derive(Clone, Copy)]
struct Frame<'a> {
    consts: &'a Consts<'a>,
    facts: &'a ConstMap,
    callees: &'a CalleeResults,
}

type HitKey = ((StableKey, CallId), Origin, Held);

#[derive(Default)]
struct HitCollector {
    entry: std::collections::BTreeMap<HitKey, Hit>,
    local: std::collections::BTreeMap<HitKey, Hit>,
    entry_cut: Cuts,
    local_cut: Cuts,
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

/// Per function, its file and text: the same in every program that has it
/// (an ordinal tells apart identical definitions in one file).
fn stable_keys(files: &[String], functions: &[std::sync::Arc<Function>]) -> Vec<StableKey> {
    let mut seen: HashMap<StableKey, u32, Fast> = HashMap::default();
    functions
        .iter()
        .map(|f| {
            let file = files.get(f.file as usize).map(String::as_str).unwrap_or("");
            let key = hash128(&(file, f.content_key, f.entry_hint.map(|h| h.mode)));
            let n = seen.entry(key).or_insert(0);
            *n += 1;
            if *n == 1 {
                key
            } else {
                hash128(&(key, *n))
            }
        })
        .collect()
}

/// The strongly connected components of the resolved call graph.
struct CycleGroups {
    /// Per function, its group.
    of: Vec<u32>,
    /// Per group, its members; callees' groups come before their callers'.
    members: Vec<Vec<FnId>>,
    /// Per group: more than one member, or a member calling itself.
    cyclic: Vec<bool>,
}

/// Tarjan's algorithm, iterative (a kernel's call chains are deep).
fn cycle_groups(resolved: &[Vec<Option<FnId>>]) -> CycleGroups {
    const NONE: u32 = u32::MAX;
    let n = resolved.len();
    let mut index = vec![NONE; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<u32> = Vec::new();
    let mut of = vec![NONE; n];
    let mut members: Vec<Vec<FnId>> = Vec::new();
    let mut next = 0u32;
    for root in 0..n {
        if index[root] != NONE {
            continue;
        }
        let mut calls: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root as u32);
        on_stack[root] = true;
        while let Some(&(v, edge)) = calls.last() {
            if let Some(callee) = resolved[v].get(edge) {
                if let Some(top) = calls.last_mut() {
                    top.1 += 1;
                }
                let Some(w) = callee.map(|w| w as usize) else {
                    continue;
                };
                if index[w] == NONE {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w as u32);
                    on_stack[w] = true;
                    calls.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(u, _)) = calls.last() {
                low[u] = low[u].min(low[v]);
            }
            if low[v] == index[v] {
                let id = members.len() as u32;
                let mut group = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w as usize] = false;
                    of[w as usize] = id;
                    group.push(w);
                    if w as usize == v {
                        break;
                    }
                }
                members.push(group);
            }
        }
    }
    let cyclic = members
        .iter()
        .map(|m| m.len() > 1 || m.iter().any(|&f| resolved[f as usize].contains(&Some(f))))
        .collect();
    CycleGroups {
        of,
        members,
        cyclic,
    }
}

/// Per function, a key of everything its result can depend on: the texts
/// of its group's members and of every group below, and how each call
/// resolves. Groups come callees first, so a group's callees are keyed
/// before it.
fn closure_keys(
    stable: &[StableKey],
    resolved: &[Vec<Option<FnId>>],
    groups: &CycleGroups,
) -> Vec<ClosureKey> {
    let mut closure: Vec<ClosureKey> = vec![0; stable.len()];
    for (id, members) in groups.members.iter().enumerate() {
        let mut sorted = members.clone();
        sorted.sort_by_key(|&f| stable[f as usize]);
        let mut reach: Vec<u128> = Vec::new();
        for &m in &sorted {
            reach.push(stable[m as usize]);
            reach.push(resolved[m as usize].len() as u128);
            for callee in &resolved[m as usize] {
                match callee {
                    None => reach.push(0),
                    Some(g) if groups.of[*g as usize] == id as u32 => {
                        reach.extend([1, stable[*g as usize]])
                    }
                    Some(g) => reach.extend([2, closure[*g as usize]]),
                }
            }
        }
        let group_key = hash128(&reach);
        for &m in members {
            closure[m as usize] = hash128(&(group_key, stable[m as usize]));
        }
    }
    closure
}

/// A context as a memo key: its constants, sorted.
pub fn env_key(env: &ConstMap) -> EnvKey {
    let mut key: EnvKey = env.iter().map(|(k, v)| (k.clone(), *v)).collect();
    key.sort();
    key
}

/// Marks every transitive caller of a marked function.
fn propagate(direct: &[bool], callers: &[Vec<(FnId, CallId)>]) -> Vec<bool> {
    let mut marked = direct.to_vec();
    let mut stack: Vec<FnId> = (0..direct.len() as FnId)
        .filter(|&i| direct[i as usize])
        .collect();
    while let Some(g) = stack.pop() {
        for &(caller, _) in &callers[g as usize] {
            if !marked[caller as usize] {
                marked[caller as usize] = true;
                stack.push(caller);
            }
        }
    }
    marked
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
