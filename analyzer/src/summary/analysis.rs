//! The analysis of one function in one context: the lock-state dataflow
//! over its CFG, calls into callees (memoized per entry of a cycle group,
//! stored for reuse), and the hits: long operations reached under a hold.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use super::{env_key, Chain, CycleSession, EntryFrame, FnId, FnResult, Hit, Program};
use crate::catalogue::LongClass;
use crate::ir::*;
use crate::limits::*;
use crate::lockstate::*;
use crate::summary_store::{Noted, StableKey, SummaryKey};

/// What a visit of a node is for: the fixpoint's successor states, or
/// the hits of the final pass.
enum Step<'a> {
    Flow(&'a mut Vec<(NodeId, State)>),
    Hits(&'a mut HitCollector),
}

impl Program<'_> {
    /// A root's result in a context.
    pub fn analyze(&self, fid: FnId, env: &ConstMap) -> Rc<FnResult> {
        self.analyze_entry(fid, env)
    }

    /// The result of `fid` called from `caller`.
    fn analyze_call(&self, caller: FnId, fid: FnId, env: &ConstMap) -> Rc<FnResult> {
        let group = self.graph.group[fid as usize];
        if self.graph.group[caller as usize] == group && self.graph.cyclic[group as usize] {
            self.analyze_in_cycle(fid, env)
        } else {
            self.analyze_entry(fid, env)
        }
    }

    /// A call from outside `fid`'s cycle group (or a root): the result is
    /// memoized for the program, and stored for others, unless taken from the
    /// store.
    fn analyze_entry(&self, fid: FnId, env: &ConstMap) -> Rc<FnResult> {
        let env_key = env_key(env, self.macros);
        let summary_key: SummaryKey = (self.graph.closure[fid as usize], env_key);
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
        let group = self.graph.group[fid as usize];
        let cycle = self.graph.cyclic[group as usize].then(|| CycleSession {
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
        let key = (fid, env_key(env, self.macros));
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
                return cut(if self.graph.may_reach_long[fid as usize] {
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

    fn analyze_uncached(&self, fid: FnId, env: &ConstMap) -> FnResult {
        let f = self.function(fid);
        let facts = self.local_facts(fid, env);
        let by_var = crate::field_values::values_by_var(&f.vars, &facts);
        let consts = Consts {
            by_var: &by_var,
            macros: self.macros,
        };
        let n = f.cfg.nodes.len();
        let mut in_states: Vec<State> = vec![State::new(); n];
        in_states[f.cfg.entry as usize] = entry_state();
        // A call site's callee result, once per analysis: the facts (hence
        // the callee's context) do not change during it, and a repeated
        // request gets what the first got (memoized, or the same cut: the
        // keys in progress and the depth are those of this analysis).
        let callees: CalleeResults = RefCell::new(vec![None; f.calls.len()]);
        let branch_values = self.branch_values(fid, env, &facts);
        let stable = self.stable_calls(fid, super::stable_calls::has_implications(&facts));
        let infeasible: Vec<bool> = if stable.at_call.iter().any(|k| !k.is_empty()) {
            (0..f.calls.len() as CallId)
                .map(|c| self.call_infeasible(fid, c, &facts))
                .collect()
        } else {
            Vec::new()
        };
        let frame = Frame {
            consts: &consts,
            facts: &facts,
            callees: &callees,
            branch_values: &branch_values,
            infeasible: &infeasible,
        };
        let mut worklist = vec![f.cfg.entry];
        let mut queued = vec![false; n];
        queued[f.cfg.entry as usize] = true;
        // The successors' states, one buffer for the whole fixpoint.
        let mut outs: Vec<(NodeId, State)> = Vec::new();
        while let Some(node) = worklist.pop() {
            queued[node as usize] = false;
            self.transfer_node(
                fid,
                node,
                &in_states[node as usize],
                &frame,
                Step::Flow(&mut outs),
            );
            for (succ, st) in outs.drain(..) {
                if in_states[succ as usize].union_owned(st) > 0 && !queued[succ as usize] {
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
                    Step::Hits(&mut hits),
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

    /// Runs node `node`'s events on `state`: the successors' states into
    /// the buffer of a [`Step::Flow`], or the hits into a [`Step::Hits`].
    fn transfer_node(&self, fid: FnId, node: NodeId, state: &State, frame: &Frame, step: Step) {
        let Frame {
            consts,
            facts,
            callees,
            branch_values,
            infeasible,
        } = *frame;
        let f = self.function(fid);
        let nd = &f.cfg.nodes[node as usize];
        // The state after the events so far: None while it is still
        // `state` (each event makes a new one from a borrowed state, so
        // the node's own state is copied only when a successor takes it).
        let mut changed: Option<State> = None;
        let (mut hits, outs) = match step {
            Step::Hits(h) => (Some(h), None),
            Step::Flow(o) => (None, Some(o)),
        };
        for ev in &nd.events {
            let s = changed.as_ref().unwrap_or(state);
            match ev {
                // No path of this context makes the call: the path ends.
                Event::Call(cid) if infeasible.get(*cid as usize) == Some(&true) => {
                    changed = Some(State::new());
                }
                Event::Call(cid) => {
                    if let Some(h) = hits.as_deref_mut() {
                        self.check_hits(fid, *cid, s, facts, callees, h);
                    }
                    if let Some(after) = self.transfer_call(fid, *cid, s, facts, callees) {
                        changed = Some(after);
                    }
                }
                Event::Assign { var, value } => {
                    let is_return = f.var_name(*var) == RETURN_VAR;
                    let source = match value {
                        Value::CallResult(c) => AssignSource::Var(f.calls[*c as usize].result_var),
                        Value::Const(c) | Value::OrBits(_, c) => AssignSource::Const(*c),
                        Value::Path(p) => f
                            .var_id(p)
                            .map(AssignSource::Var)
                            .unwrap_or(AssignSource::Other),
                        Value::Cond(_) | Value::Choice(..) => match decided(value, consts) {
                            Some(c) => AssignSource::Const(c),
                            None => AssignSource::Other,
                        },
                        Value::SetBits(_)
                        | Value::ClearBits(_)
                        | Value::MaskBits
                        | Value::SetCallBits(_)
                        | Value::BitsOf(..)
                        | Value::Unknown => AssignSource::Other,
                    };
                    let is_lock_flag = f.lock_flags.get(*var as usize).copied().unwrap_or(false);
                    if is_return
                        || is_lock_flag
                        || s.iter().any(|e| e.guard.is_some() || e.flag.is_some())
                    {
                        changed = Some(apply_assign(s, *var, source, is_return, is_lock_flag));
                    }
                }
            }
        }
        // The pass that collects hits keeps no successor state.
        let Some(outs) = outs else {
            return;
        };
        let s = changed.as_ref().unwrap_or(state);
        if let Some((switched, cases)) = &nd.switch {
            outs.extend(route_switch(s, switched, cases, &nd.succ, consts));
            return;
        }
        match (&nd.branch, nd.succ.as_slice()) {
            (Some(cond), [t, f_]) => {
                let (ts, fs) = match branch_values.get(&node) {
                    // A reassigned variable's value here, not the function's.
                    Some(values) => {
                        let mut by_var = consts.by_var.to_vec();
                        for &(v, c) in values {
                            by_var[v as usize] = c;
                        }
                        let here = Consts {
                            by_var: &by_var,
                            macros: consts.macros,
                        };
                        route(s, cond, &here)
                    }
                    None => route(s, cond, consts),
                };
                outs.push((*t, ts));
                outs.push((*f_, fs));
            }
            (_, [only]) => outs.push((*only, changed.unwrap_or_else(|| state.clone()))),
            (_, succs) => outs.extend(succs.iter().map(|&x| (x, s.clone()))),
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
        let results: Vec<Rc<FnResult>> = self
            .callee_envs(fid, cid, g, facts)
            .iter()
            .map(|env| self.analyze_call(fid, g, env))
            .collect();
        let r = joined(results);
        if let Some(slot) = callees.borrow_mut().get_mut(cid as usize) {
            *slot = Some(r.clone());
        }
        r
    }

    /// The state after call `cid`; None when the call leaves it as it was.
    fn transfer_call(
        &self,
        fid: FnId,
        cid: CallId,
        s: &State,
        facts: &ConstMap,
        callees: &CalleeResults,
    ) -> Option<State> {
        let f = self.function(fid);
        let call = &f.calls[cid as usize];
        if let Some(entry) = call
            .catalogued
            .lock_call
            .then(|| lock_api(self.cat, call))
            .flatten()
        {
            return Some(apply_lock_call(s, entry, cid, call.result_var));
        }
        if let Some(g) = self.target(fid, cid, facts) {
            if self.graph.may_touch_lock[g as usize] {
                let r = self.callee_result(fid, cid, g, facts, callees);
                if !r.effect.is_identity() {
                    return Some(apply_effect(s, &r.effect, cid, call.result_var));
                }
            } else if self.is_local_predicate(fid, g)
                && self
                    .callee_envs(fid, cid, g, facts)
                    .iter()
                    .any(|env| !env.is_empty())
            {
                // A predicate of constant arguments returns a constant the
                // caller can branch on (`if (write)` after
                // `write = madvise_need_mmap_write(behavior)`).
                let r = self.callee_result(fid, cid, g, facts, callees);
                if let [(_, _, Some(value))] = r.effect.exits[Held::None.index()].as_slice() {
                    return Some(
                        s.iter()
                            .map(|e| Elem {
                                guard: Some((call.result_var, *value)),
                                ..*e
                            })
                            .collect(),
                    );
                }
            }
        }
        // Unchanged (most calls): no copy of the state.
        None
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
        // (class, chain, the mode the caller must hold for it to count, the
        // mode at the long call when a callee's hit says)
        let mut reached: Vec<(LongClass, Chain, Option<Held>, Option<Held>)> = Vec::new();
        let defined_here = self.graph.resolved[fid as usize][cid as usize].is_some();
        if let Some(op) = call
            .catalogued
            .long_op
            .then(|| self.cat.long_ops.get(&call.callee))
            .flatten()
            .filter(|op| !(op.unless_defined && defined_here))
        {
            // A wait on an object this function has just allocated cannot block.
            let fresh_wait = op.class == LongClass::IoWait && call.on_fresh_object;
            if (!op.in_loop || call.in_loop) && !fresh_wait {
                reached.push((op.class, Chain::single((fid, cid)), None, None));
            }
        } else if self.cat.not_followed.contains_key(&call.callee)
            || self
                .cat
                .not_followed_from
                .get(&f.name)
                .is_some_and(|callees| callees.contains_key(&call.callee))
        {
            // What the callee does under the lock is bounded or cannot
            // happen there (catalogue `[not_followed]`, or from this caller
            // `[not_followed_from]`): nothing is reached.
        } else if let Some(g) = self.target(fid, cid, facts) {
            // Only asked of functions promised a hold on entry (is a caller
            // their holder?): only those are noted, which keeps replays short.
            if self.function(g).entry_hint.is_some() {
                self.note(Noted::CalledUnderLock {
                    callee: self.graph.stable[g as usize],
                    write: any_write,
                });
            }
            if self.graph.may_reach_long[g as usize] {
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
                    reached.push((h.class, chain, Some(h.held), Some(h.site_held)));
                }
            }
        } else if any_write && !call.catalogued.lock_call && !call.catalogued.assertion {
            self.note(Noted::UnresolvedUnderWrite(call.callee.clone()));
        }
        self.record_hits(reached, &holders, hits);
    }

    /// Records what a call reached as hits of each holder it counts for:
    /// a write-only class under a write hold, a callee's entry hit under the
    /// mode it was found for, an entry hold in its entry mode (a downgraded
    /// one too, for classes any hold makes long: its `site_held` says read).
    /// One hit per (long call, origin, mode), the shortest chain kept, at
    /// most [`MAX_HITS_PER_FUNCTION`] per function.
    fn record_hits(
        &self,
        reached: Vec<(LongClass, Chain, Option<Held>, Option<Held>)>,
        holders: &[&Elem],
        hits: &mut HitCollector,
    ) {
        for (class, chain, needs_entry, callee_site_held) in reached {
            for e in holders {
                if class.needs_write() && e.held != Held::Write {
                    continue;
                }
                if needs_entry.is_some_and(|m| m != e.held) {
                    continue;
                }
                // The mode at the long call: the callee's, else this hold's.
                let site_held = callee_site_held.map_or(e.held, |s| s.min(e.held));
                // An entry hit is keyed by the entry mode a caller matches it
                // with; a hold downgraded since entry still counts there.
                let held = if e.origin == ORIGIN_ENTRY {
                    e.entry
                } else {
                    e.held
                };
                let (target, cut) = if e.origin == ORIGIN_ENTRY {
                    if e.entry != e.held && (class.needs_write() || e.held > e.entry) {
                        continue;
                    }
                    (&mut hits.entry, &mut hits.entry_cut)
                } else {
                    (&mut hits.local, &mut hits.local_cut)
                };
                let site = chain.last();
                // Keyed by stable key, not id: the order of a result's hits
                // is then the same in every program that has the function.
                let key = ((self.graph.stable[site.0 as usize], site.1), e.origin, held);
                if target.len() >= MAX_HITS_PER_FUNCTION && !target.contains_key(&key) {
                    *cut |= CUT_HITS;
                    continue;
                }
                let hit = Hit {
                    class,
                    held,
                    site_held,
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

/// What a callee analyzed in several contexts (one per value an argument
/// may have) does: any of them may run, so their exits, hits and cuts are
/// joined (a hit reached in several, with the shortest chain).
fn joined(mut results: Vec<Rc<FnResult>>) -> Rc<FnResult> {
    if results.len() == 1 {
        return results.pop().expect("one result");
    }
    let mut out = FnResult::default();
    fn add_hits(into: &mut Vec<Hit>, hits: &[Hit]) {
        for h in hits {
            let same = |o: &Hit| {
                o.chain.last() == h.chain.last()
                    && o.acquired == h.acquired
                    && o.held == h.held
                    && o.site_held == h.site_held
                    && o.class == h.class
            };
            match into.iter_mut().find(|o| same(o)) {
                Some(o) if h.chain.len() < o.chain.len() => *o = h.clone(),
                Some(_) => {}
                None => into.push(h.clone()),
            }
        }
    }
    for r in &results {
        for (all, exits) in out.effect.exits.iter_mut().zip(&r.effect.exits) {
            for e in exits {
                if !all.contains(e) {
                    all.push(*e);
                }
            }
        }
        add_hits(&mut out.entry_hits, &r.entry_hits);
        add_hits(&mut out.local_hits, &r.local_hits);
        out.entry_cut |= r.entry_cut;
        out.local_cut |= r.local_cut;
    }
    Rc::new(out)
}

/// Per call site of the function being analyzed, its callee's result.
type CalleeResults = RefCell<Vec<Option<Rc<FnResult>>>>;

/// What one analysis of a function works with at every node.
#[derive(Clone, Copy)]
struct Frame<'a> {
    consts: &'a Consts<'a>,
    facts: &'a ConstMap,
    callees: &'a CalleeResults,
    /// Values of reassigned variables at the branches that test them
    /// ([`Program::branch_values`]).
    branch_values: &'a super::flow_values::BranchValues,
    /// Calls no path of this context makes ([`Program::call_infeasible`]);
    /// empty when the function branches on no stable call.
    infeasible: &'a [bool],
}

type HitKey = ((StableKey, CallId), Origin, Held);

#[derive(Default)]
struct HitCollector {
    entry: std::collections::BTreeMap<HitKey, Hit>,
    local: std::collections::BTreeMap<HitKey, Hit>,
    entry_cut: Cuts,
    local_cut: Cuts,
}
