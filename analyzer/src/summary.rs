//! Interprocedural analysis over the whole PATH.
//!
//! Each function is analyzed per *context*: the constants its parameters (and
//! fields of its struct parameters) hold at the call (`__vm_munmap(.., true)`
//! versus `(.., false)`). An analysis yields a [`FnResult`]: the function's
//! effect on the lock for each entry mode (releases, downgrades, re-takes), the
//! long operations it reaches while a write hold from its entry is still in
//! force, and the long operations reached under a write hold it takes itself.
//! Results are memoized per (function, context); a call cycle is cut with the
//! identity effect.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::rc::Rc;

use crate::catalogue::{Catalogue, LockOp, LongClass};
use crate::ir::*;
use crate::lockstate::*;

pub type FnId = u32;
/// Call sites from a holder down to a long call.
pub type Chain = Vec<(FnId, CallId)>;
type EnvKey = Vec<(String, i64)>;

/// A long operation reached under a write hold: the chain of call sites from
/// the holder down to the long call.
#[derive(Debug, Clone)]
pub struct Hit {
    pub class: LongClass,
    /// The lock mode held at the long call (for entry hits: the entry mode).
    pub held: Held,
    pub chain: Vec<(FnId, CallId)>,
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
}

/// The hasher of the analysis's lookup tables (never iterated: their
/// order cannot reach a result).
pub type Fast = foldhash::fast::RandomState;

/// Limits that keep the analysis bounded on whole trees.
const MAX_DEPTH: u32 = 40;
const MAX_CONTEXTS: usize = 8;
const MAX_HITS_PER_FUNCTION: usize = 64;

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
    in_progress: RefCell<HashSet<(FnId, EnvKey), Fast>>,
    depth: Cell<u32>,
    contexts_memo: RefCell<HashMap<FnId, Rc<Vec<ConstMap>>, Fast>>,
    /// [`Program::local_facts`] of callers, asked once per callee.
    facts_memo: RefCell<HashMap<(FnId, EnvKey), Rc<ConstMap>, Fast>>,
    pub called_under_write: RefCell<HashSet<FnId, Fast>>,
    /// Functions called with the lock held in any mode.
    pub called_under_lock: RefCell<HashSet<FnId, Fast>>,
    /// Callees reached under a write hold that have no definition in the
    /// analyzed files (the driver looks for their definitions elsewhere).
    pub unresolved_under_write: RefCell<BTreeSet<String>>,
    /// Functions passed as rmap_walk callbacks (`.rmap_one = f`), found lexically.
    pub rmap_callbacks: Vec<String>,
}

impl<'c> Program<'c> {
    pub fn new(cat: &'c Catalogue, files: std::sync::Arc<Vec<String>>, functions: Vec<std::sync::Arc<Function>>) -> Program<'c> {
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
            .map(|f| f.calls.iter().map(|c| if c.catalogued.long_op { None } else { resolve(f, &c.callee) }).collect())
            .collect();
        let mut callers = vec![Vec::new(); functions.len()];
        for (fi, calls) in resolved.iter().enumerate() {
            for (ci, callee) in calls.iter().enumerate() {
                if let Some(g) = callee {
                    callers[*g as usize].push((fi as FnId, ci as CallId));
                }
            }
        }
        let direct_lock: Vec<bool> = functions.iter().map(|f| f.calls.iter().any(|c| c.catalogued.lock_call)).collect();
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
        Program {
            cat,
            files,
            functions,
            resolved,
            callers,
            may_touch_lock,
            may_reach_long,
            memo: RefCell::default(),
            in_progress: RefCell::default(),
            depth: Cell::new(0),
            contexts_memo: RefCell::default(),
            facts_memo: RefCell::default(),
            called_under_write: RefCell::default(),
            called_under_lock: RefCell::default(),
            unresolved_under_write: RefCell::default(),
            rmap_callbacks: Vec::new(),
        }
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
                    || f.calls.iter().any(|c| c.catalogued.lock_call && lock_api(self.cat, c).is_some_and(|e| e.op == LockOp::Acquire))
            })
            .collect()
    }

    /// The definition a call resolves to, if any.
    pub fn callee(&self, fid: FnId, cid: CallId) -> Option<FnId> {
        self.resolved[fid as usize][cid as usize]
    }

    pub fn find(&self, name: &str) -> Vec<FnId> {
        (0..self.functions.len() as FnId).filter(|&i| self.function(i).name == name).collect()
    }

    /// Constants a function's locals and struct fields hold in a context,
    /// flow-insensitively: a variable is constant only if every assignment in
    /// the function gives it the same constant.
    pub fn local_facts<'p>(&'p self, fid: FnId, env: &ConstMap) -> ConstMap {
        let f = self.function(fid);
        // Keys borrow the function's variable names (most facts are about them).
        let mut candidates: HashMap<std::borrow::Cow<'p, str>, Option<i64>, Fast> = HashMap::default();
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
                        let Some(g) = self.resolved[fid as usize][*cid as usize] else { continue };
                        for store in &self.function(g).field_stores {
                            let Some(base) = call.args.get(store.param).and_then(|a| normalize_path(a)) else { continue };
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
                        if let Some(rest) = k.strip_prefix(p.as_str()).and_then(|r| r.strip_prefix('.')) {
                            env.insert(format!("{pname}.{rest}"), *v);
                        }
                    }
                }
                _ => {}
            }
        }
        env
    }

    /// The contexts a root function is analyzed in: the constants its callers
    /// pass, plus the unknown context when a caller passes no constant or
    /// there is no caller in the analyzed files.
    pub fn contexts(&self, fid: FnId, depth: u32) -> Rc<Vec<ConstMap>> {
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
            for genv in self.contexts(g, depth + 1).iter() {
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
        let result = Rc::new(if out.len() > MAX_CONTEXTS { vec![ConstMap::default()] } else { out });
        self.contexts_memo.borrow_mut().insert(fid, result.clone());
        result
    }

    pub fn analyze(&self, fid: FnId, env: &ConstMap) -> Rc<FnResult> {
        let key = (fid, env_key(env));
        if let Some(r) = self.memo.borrow().get(&key) {
            return r.clone();
        }
        if self.depth.get() >= MAX_DEPTH || self.in_progress.borrow().contains(&key) {
            return Rc::new(FnResult { effect: Effect::identity(), ..Default::default() });
        }
        self.in_progress.borrow_mut().insert(key.clone());
        self.depth.set(self.depth.get() + 1);
        let result = Rc::new(self.analyze_uncached(fid, env));
        self.depth.set(self.depth.get() - 1);
        self.in_progress.borrow_mut().remove(&key);
        self.memo.borrow_mut().insert(key, result.clone());
        result
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
        let frame = Frame { consts: &consts, facts: &facts, callees: &callees };
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
                self.transfer_node(fid, node, &in_states[node as usize], &frame, Some(&mut hits));
            }
        }
        FnResult {
            effect: effect_of_exit(&in_states[f.cfg.exit as usize], f.var_id(RETURN_VAR)),
            entry_hits: hits.entry.into_values().collect(),
            local_hits: hits.local.into_values().collect(),
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
        let Frame { consts, facts, callees } = *frame;
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
                        Value::Path(p) => f.var_id(p).map(AssignSource::Var).unwrap_or(AssignSource::Other),
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
    fn callee_result(&self, fid: FnId, cid: CallId, g: FnId, facts: &ConstMap, callees: &CalleeResults) -> Rc<FnResult> {
        if let Some(r) = callees.borrow().get(cid as usize).cloned().flatten() {
            return r;
        }
        let env = self.callee_env(&self.function(fid).calls[cid as usize], g, facts);
        let r = self.analyze(g, &env);
        if let Some(slot) = callees.borrow_mut().get_mut(cid as usize) {
            *slot = Some(r.clone());
        }
        r
    }

    fn transfer_call(&self, fid: FnId, cid: CallId, s: &State, facts: &ConstMap, callees: &CalleeResults) -> State {
        let f = self.function(fid);
        let call = &f.calls[cid as usize];
        if let Some(entry) = call.catalogued.lock_call.then(|| lock_api(self.cat, call)).flatten() {
            return apply_lock_call(s, entry, cid, call.result_var);
        }
        if let Some(g) = self.resolved[fid as usize][cid as usize] {
            if self.may_touch_lock[g as usize] {
                let r = self.callee_result(fid, cid, g, facts, callees);
                if !r.effect.is_identity() {
                    return apply_effect(s, &r.effect, cid, call.result_var);
                }
            }
        }
        s.clone()
    }

    fn check_hits(&self, fid: FnId, cid: CallId, s: &State, facts: &ConstMap, callees: &CalleeResults, hits: &mut HitCollector) {
        if s.iter().all(|e| e.held == Held::None) {
            return;
        }
        let holders: Vec<&Elem> = s.iter().filter(|e| e.held != Held::None).collect();
        let any_write = holders.iter().any(|e| e.held == Held::Write);
        let f = self.function(fid);
        let call = &f.calls[cid as usize];
        // (class, chain, the mode the caller must hold for it to count)
        let mut reached: Vec<(LongClass, Chain, Option<Held>)> = Vec::new();
        if let Some(op) = call.catalogued.long_op.then(|| self.cat.long_ops.get(&call.callee)).flatten() {
            if !op.in_loop || call.in_loop {
                reached.push((op.class, vec![(fid, cid)], None));
            }
        } else if let Some(g) = self.resolved[fid as usize][cid as usize] {
            self.called_under_lock.borrow_mut().insert(g);
            if any_write {
                self.called_under_write.borrow_mut().insert(g);
            }
            if self.may_reach_long[g as usize] {
                let r = self.callee_result(fid, cid, g, facts, callees);
                let may_wait = self.cat.fault_path.call_may_wait(&call.callee, &call.args);
                for h in r.entry_hits.iter().filter(|h| may_wait || h.class != LongClass::IoWait) {
                    let mut chain = vec![(fid, cid)];
                    chain.extend_from_slice(&h.chain);
                    reached.push((h.class, chain, Some(h.held)));
                }
            }
        } else if any_write && !call.catalogued.lock_call && !call.catalogued.assertion {
            let mut unresolved = self.unresolved_under_write.borrow_mut();
            if !unresolved.contains(&call.callee) {
                unresolved.insert(call.callee.clone());
            }
        }
        for (class, chain, needs_entry) in reached {
            for e in &holders {
                if class.needs_write() && e.held != Held::Write {
                    continue;
                }
                if needs_entry.is_some_and(|m| m != e.held) {
                    continue;
                }
                let target = if e.origin == ORIGIN_ENTRY {
                    if e.entry != e.held {
                        continue;
                    }
                    &mut hits.entry
                } else {
                    &mut hits.local
                };
                let site = *chain.last().expect("a chain has its long call");
                let key = (site, e.origin, e.held);
                if target.len() >= MAX_HITS_PER_FUNCTION && !target.contains_key(&key) {
                    continue;
                }
                let hit = Hit { class, held: e.held, chain: chain.clone(), acquired: e.origin };
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

#[derive(Default)]
struct HitCollector {
    entry: std::collections::BTreeMap<((FnId, CallId), Origin, Held), Hit>,
    local: std::collections::BTreeMap<((FnId, CallId), Origin, Held), Hit>,
}

/// A context as a memo key: its constants, sorted.
fn env_key(env: &ConstMap) -> EnvKey {
    let mut key: EnvKey = env.iter().map(|(k, v)| (k.clone(), *v)).collect();
    key.sort();
    key
}

/// Marks every transitive caller of a marked function.
fn propagate(direct: &[bool], callers: &[Vec<(FnId, CallId)>]) -> Vec<bool> {
    let mut marked = direct.to_vec();
    let mut stack: Vec<FnId> = (0..direct.len() as FnId).filter(|&i| direct[i as usize]).collect();
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
