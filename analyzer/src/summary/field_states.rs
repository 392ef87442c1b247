//! What the fields of an object passed by pointer hold at each call,
//! flow-sensitively, as a few alternatives (one per kind of path).
//!
//! [`Program::local_facts`] is flow-insensitive: a field written `false` in
//! one place and `true` in another is unknown everywhere. Helpers that take
//! a state struct by address often end in a known state, though, on every
//! path: `vms_clear_ptes(vms)` returns at once when `!vms->clear_ptes` and
//! otherwise ends with `vms->clear_ptes = false`; `vms_clean_up_area(vms)`
//! returns when `!vms->nr_pages` and otherwise calls `vms_clear_ptes()`. So
//! after `vms_clean_up_area(&vms)`, `__mmap_region()` knows "`nr_pages` is 0
//! or `clear_ptes` is false", and its later `vms_complete_munmap_vmas(&vms)`
//! clears no page tables a second time on either path.
//!
//! A callee's *post-states* for a parameter are the alternatives its exit
//! can be reached in ([`Program::post_states`]): stores of constants, and
//! what the branches taken on the way say (`if (!p->x) return;`: `x` is 0
//! there). A caller walks its CFG forward with alternatives per node; a call
//! passing a tracked object first forgets every field the callee may write
//! ([`Program::field_writes`]), then takes each of the callee's
//! post-states. At a call, the alternatives that tell the callee something
//! it reads give it one context each ([`Program::refined_facts`]). Only
//! objects handed to a callee that can say something about them (a
//! constant stored in, or an equality test of, one of their fields, itself
//! or further down: [`Program::may_inform`]) are followed: the walk costs
//! nothing for the `mm`s and `vma`s most calls pass.
//!
//! Bounded and order-independent: at most [`MAX_STATES`] alternatives per
//! point (past that, only what all of them agree on); a node visited more
//! than [`MAX_VISITS`] times knows nothing more; a callee in the caller's own
//! cycle group gives no post-states (its fields are forgotten), so the
//! answer does not depend on which function of a cycle was asked first.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::{FnId, Program};
use crate::field_values::UNKNOWN_FIELD;
use crate::ir::*;
use crate::lockstate::ConstMap;

/// Alternatives kept per program point.
const MAX_STATES: usize = 4;
/// Visits of one node before it is taken to know nothing (loops).
const MAX_VISITS: usize = 12;

/// One alternative: field path (`base.field`, or `field` in a post-state)
/// to its constant.
pub(super) type State = BTreeMap<String, i64>;
/// A disjunction of alternatives; empty when the point is unreachable.
pub(super) type States = Vec<State>;
/// [`Program::post_states`] by (function, parameter).
pub(super) type PostMemo =
    std::cell::RefCell<std::collections::HashMap<(FnId, usize), Option<Rc<States>>, super::Fast>>;
/// [`Program::may_inform`] by (function, parameter).
pub(super) type MayInformMemo =
    std::cell::RefCell<std::collections::HashMap<(FnId, usize), bool, super::Fast>>;
/// The alternatives at each call, by function.
pub(super) type CallStatesMemo = std::cell::RefCell<
    std::collections::HashMap<(FnId, Vec<(NodeId, usize)>), Rc<Vec<Option<States>>>, super::Fast>,
>;

/// Dedups, drops an alternative another one covers (a state with more
/// constraints adds nothing beside one with fewer that it agrees with), and
/// past [`MAX_STATES`] keeps only what every alternative agrees on.
fn normalize(mut states: States) -> States {
    states.sort();
    states.dedup();
    let covered =
        |s: &State, by: &State| by.len() < s.len() && by.iter().all(|(k, v)| s.get(k) == Some(v));
    let kept: States = states
        .iter()
        .filter(|s| !states.iter().any(|o| covered(s, o)))
        .cloned()
        .collect();
    if kept.len() <= MAX_STATES {
        return kept;
    }
    let mut common = kept[0].clone();
    common.retain(|k, v| kept.iter().all(|s| s.get(k) == Some(v)));
    vec![common]
}

/// The object path an argument hands over (`&vms`, `sc`, `p->q`).
fn path_of(v: &Value) -> Option<&str> {
    match v {
        Value::Path(p) => Some(p),
        _ => None,
    }
}

fn under(key: &str, path: &str) -> bool {
    key == path || key.strip_prefix(path).is_some_and(|r| r.starts_with('.'))
}

/// The objects a function's fields are followed for: plain names passed to
/// calls (`&vms`, `sc`), not copied elsewhere (`q = p` would alias them).
fn tracked_bases(f: &Function) -> Vec<String> {
    let mut bases: Vec<String> = f
        .calls
        .iter()
        .flat_map(|c| c.arg_values.iter())
        .filter_map(path_of)
        .filter(|p| !p.contains('.') && !p.starts_with('$'))
        .map(str::to_string)
        .collect();
    bases.sort();
    bases.dedup();
    bases.retain(|b| {
        !f.cfg
            .nodes
            .iter()
            .flat_map(|n| &n.events)
            .any(|e| matches!(e, Event::Assign { value: Value::Path(p), .. } if p == b))
    });
    bases
}

/// Constraints a branch edge puts on tracked keys (`truth`: the condition's
/// value on the edge), as (key, value); None when the edge contradicts
/// itself (never).
fn edge_facts(f: &Function, e: &Expr, truth: bool, out: &mut Vec<(String, i64)>) {
    match e {
        Expr::Var(v) if !truth => out.push((f.var_name(*v).to_string(), 0)),
        Expr::Not(inner) => edge_facts(f, inner, !truth, out),
        Expr::And(a, b) if truth => {
            edge_facts(f, a, true, out);
            edge_facts(f, b, true, out);
        }
        Expr::Or(a, b) if !truth => {
            edge_facts(f, a, false, out);
            edge_facts(f, b, false, out);
        }
        Expr::Cmp(op, a, b) => {
            let (var, c) = match (a.as_ref(), b.as_ref()) {
                (Expr::Var(v), Expr::Const(c)) | (Expr::Const(c), Expr::Var(v)) => (*v, *c),
                _ => return,
            };
            let equal = match op {
                CmpOp::Eq => truth,
                CmpOp::Ne => !truth,
                _ => return,
            };
            if equal {
                out.push((f.var_name(var).to_string(), c));
            }
        }
        _ => {}
    }
}

impl Program<'_> {
    /// The alternatives `fid`'s exit is reached in for what parameter
    /// `param` points to (keys relative to it: `clear_ptes`); None when
    /// nothing is known (the parameter is reassigned or copied, or is not
    /// a plain name). Memoized.
    pub(super) fn post_states(&self, fid: FnId, param: usize) -> Option<Rc<States>> {
        if let Some(p) = self.post_states_memo.borrow().get(&(fid, param)) {
            return p.clone();
        }
        let post = self.compute_post_states(fid, param).map(Rc::new);
        self.post_states_memo
            .borrow_mut()
            .insert((fid, param), post.clone());
        post
    }

    /// Whether `fid` can say anything about what parameter `param` points
    /// to on return: it stores a constant in a field of it, branches on a
    /// field of it, or hands it to a callee that can. Read off the events
    /// (no walk): most callees handed `mm` or `vma` cannot, and their
    /// post-states are not worked out. Memoized.
    fn may_inform(&self, fid: FnId, param: usize) -> bool {
        if let Some(&m) = self.may_inform_memo.borrow().get(&(fid, param)) {
            return m;
        }
        let m = self.compute_may_inform(fid, param);
        self.may_inform_memo.borrow_mut().insert((fid, param), m);
        m
    }

    fn compute_may_inform(&self, fid: FnId, param: usize) -> bool {
        let f = self.function(fid);
        let Some(base) = f.params.get(param).filter(|p| !p.is_empty()) else {
            return false;
        };
        let field_of_base = |v: VarId| {
            f.var_name(v)
                .strip_prefix(base.as_str())
                .is_some_and(|r| r.starts_with('.'))
        };
        let stores_const = f.cfg.nodes.iter().flat_map(|n| &n.events).any(
            |e| matches!(e, Event::Assign { var, value: Value::Const(_) } if field_of_base(*var)),
        );
        if stores_const {
            return true;
        }
        // Only tests that say what a field holds on one edge (`!p->x`,
        // `p->x == C`), not flag tests (`p->flags & F`).
        let branches_on = f
            .cfg
            .nodes
            .iter()
            .filter_map(|n| n.branch.as_ref())
            .any(|b| {
                let mut facts = Vec::new();
                edge_facts(f, b, true, &mut facts);
                edge_facts(f, b, false, &mut facts);
                facts.iter().any(|(k, _)| {
                    k.strip_prefix(base.as_str())
                        .is_some_and(|r| r.starts_with('.'))
                })
            });
        if branches_on {
            return true;
        }
        self.hands_to_informer(fid, base)
    }

    /// Whether `fid` hands `base` itself to a callee outside its cycle
    /// group that can say what it leaves in it ([`Program::may_inform`]).
    fn hands_to_informer(&self, fid: FnId, base: &str) -> bool {
        let group = self.graph.group[fid as usize];
        let f = self.function(fid);
        f.calls.iter().enumerate().any(|(cid, call)| {
            let Some(g) = self.graph.resolved[fid as usize][cid] else {
                return false;
            };
            self.graph.group[g as usize] != group
                && call
                    .arg_values
                    .iter()
                    .enumerate()
                    .any(|(j, a)| path_of(a) == Some(base) && self.may_inform(g, j))
        })
    }

    fn compute_post_states(&self, fid: FnId, param: usize) -> Option<States> {
        let f = self.function(fid);
        let base = f.params.get(param).filter(|p| !p.is_empty())?;
        if !self.may_inform(fid, param) {
            return Some(vec![State::new()]);
        }
        let reassigned = f.cfg.nodes.iter().flat_map(|n| &n.events).any(|e| match e {
            Event::Assign { var, value } => {
                f.var_name(*var) == base || matches!(value, Value::Path(p) if p == base)
            }
            Event::Call(_) => false,
        });
        if reassigned {
            return None;
        }
        let bases = [base.clone()];
        let (at_entry, _) = self.flow(fid, &bases, false, &[]);
        let exit = at_entry
            .get(f.cfg.exit as usize)?
            .clone()
            .unwrap_or_default();
        let prefix = format!("{base}.");
        Some(normalize(
            exit.into_iter()
                .map(|s| {
                    s.into_iter()
                        .filter_map(|(k, v)| Some((k.strip_prefix(&prefix)?.to_string(), v)))
                        .collect()
                })
                .collect(),
        ))
    }

    /// Per call of `fid`, the alternatives for the tracked objects' fields
    /// just before it (None: the call is not reached). Memoized.
    fn call_states(&self, fid: FnId, facts: &ConstMap) -> Rc<Vec<Option<States>>> {
        // Edges the context makes dead (a free range's lookup found nothing).
        let dead = self.dead_edges(fid, facts);
        if let Some(s) = self.call_states_memo.borrow().get(&(fid, dead.clone())) {
            return s.clone();
        }
        let f = self.function(fid);
        // Only objects a callee can say something about (what it leaves in
        // their fields): constants stored here are the flow-insensitive
        // facts' already.
        let bases: Vec<String> = tracked_bases(f)
            .into_iter()
            .filter(|b| self.hands_to_informer(fid, b))
            .collect();
        let states = if bases.is_empty() {
            vec![None; f.calls.len()]
        } else {
            self.flow(fid, &bases, true, &dead).1
        };
        let states = Rc::new(states);
        self.call_states_memo
            .borrow_mut()
            .insert((fid, dead), states.clone());
        states
    }

    /// The forward walk: the alternatives at each node's entry and, when
    /// `at_calls`, just before each call.
    fn flow(
        &self,
        fid: FnId,
        bases: &[String],
        at_calls: bool,
        dead: &[(NodeId, usize)],
    ) -> (Vec<Option<States>>, Vec<Option<States>>) {
        let f = self.function(fid);
        let shape = Shape::new(f, bases);
        let n = f.cfg.nodes.len();
        let mut at_entry: Vec<Option<States>> = vec![None; n];
        let mut visits = vec![0usize; n];
        let entry = f.cfg.entry as usize;
        if entry >= n {
            return (at_entry, vec![None; f.calls.len()]);
        }
        at_entry[entry] = Some(vec![State::new()]);
        let mut work = vec![entry];
        let mut queued = vec![false; n];
        queued[entry] = true;
        while let Some(i) = work.pop() {
            queued[i] = false;
            let Some(states) = at_entry[i].clone() else {
                continue;
            };
            let node = &f.cfg.nodes[i];
            let out = self.through_events(fid, bases, &shape, node, states, &mut |_, _| {});
            for (k, &succ) in node.succ.iter().enumerate() {
                let succ = succ as usize;
                if succ >= n || dead.contains(&(i as NodeId, k)) {
                    continue;
                }
                let mut edge = out.clone();
                if let (Some(cond), true) = (&node.branch, k < 2) {
                    let mut facts = Vec::new();
                    edge_facts(f, cond, k == 0, &mut facts);
                    facts.retain(|(key, _)| bases.iter().any(|b| under(key, b) && key != b));
                    edge = edge
                        .into_iter()
                        .filter_map(|mut s| {
                            for (key, v) in &facts {
                                match s.get(key) {
                                    Some(old) if old != v => return None,
                                    _ => {
                                        s.insert(key.clone(), *v);
                                    }
                                }
                            }
                            Some(s)
                        })
                        .collect();
                }
                let merged = match &at_entry[succ] {
                    None => normalize(edge),
                    Some(old) => {
                        let mut all = old.clone();
                        all.extend(edge);
                        normalize(all)
                    }
                };
                let merged = if visits[succ] >= MAX_VISITS {
                    vec![State::new()]
                } else {
                    merged
                };
                if at_entry[succ].as_ref() != Some(&merged) {
                    at_entry[succ] = Some(merged);
                    visits[succ] += 1;
                    if !queued[succ] {
                        queued[succ] = true;
                        work.push(succ);
                    }
                }
            }
        }
        let mut at_call: Vec<Option<States>> = vec![None; f.calls.len()];
        if at_calls {
            for (i, node) in f.cfg.nodes.iter().enumerate() {
                if let Some(states) = at_entry[i].clone() {
                    self.through_events(fid, bases, &shape, node, states, &mut |cid, s| {
                        if let Some(slot) = at_call.get_mut(cid as usize) {
                            *slot = Some(s.clone());
                        }
                    });
                }
            }
        }
        (at_entry, at_call)
    }

    /// The alternatives after a node's events; `seen(cid, states)` before
    /// each call.
    fn through_events(
        &self,
        fid: FnId,
        bases: &[String],
        shape: &Shape,
        node: &Node,
        mut states: States,
        seen: &mut dyn FnMut(CallId, &States),
    ) -> States {
        let f = self.function(fid);
        for ev in &node.events {
            match ev {
                Event::Assign { var, value } => {
                    if !shape
                        .tracked_var
                        .get(*var as usize)
                        .copied()
                        .unwrap_or(false)
                    {
                        continue;
                    }
                    let name = f.var_name(*var);
                    // A fresh zeroed object (`path = btrfs_alloc_path()`):
                    // the fields callees write are 0 until the first such
                    // call (the flow-insensitive facts count the write
                    // everywhere).
                    let zeroes = match value {
                        Value::CallResult(c) if self.returns_zeroed(fid, *c, 0) => {
                            self.fields_callees_write(fid, shape, name)
                        }
                        _ => Vec::new(),
                    };
                    for s in &mut states {
                        s.retain(|k, _| !under(k, name));
                        if let (Value::Const(c), true) = (value, name.contains('.')) {
                            s.insert(name.to_string(), *c);
                        }
                        for k in &zeroes {
                            s.insert(k.clone(), 0);
                        }
                    }
                    states = normalize(states);
                }
                Event::Call(cid) => {
                    seen(*cid, &states);
                    if let Some(args) = shape.call_args.get(*cid as usize).filter(|a| !a.is_empty())
                    {
                        states = self.through_call(fid, *cid, bases, args, states);
                    }
                }
            }
        }
        states
    }

    /// The fields (`base.field`) of the object `base` that the callees it
    /// is handed to may write.
    fn fields_callees_write(&self, fid: FnId, shape: &Shape, base: &str) -> Vec<String> {
        let mut keys = Vec::new();
        for (cid, args) in shape.call_args.iter().enumerate() {
            let Some(g) = self.graph.resolved[fid as usize][cid] else {
                continue;
            };
            for (j, path) in args.iter().filter(|(_, p)| p == base) {
                for store in self.field_writes(g).iter().filter(|w| w.param == *j) {
                    keys.push(format!("{path}.{}", store.field));
                }
            }
        }
        keys.sort();
        keys.dedup();
        keys
    }

    /// A call's effect on the tracked objects it is handed: the fields the
    /// callee may write are forgotten, then its post-states are taken.
    fn through_call(
        &self,
        fid: FnId,
        cid: CallId,
        bases: &[String],
        args: &[(usize, String)],
        mut states: States,
    ) -> States {
        let Some(g) = self.graph.resolved[fid as usize][cid as usize] else {
            // No definition in view: taken to write nothing, as in
            // `local_facts`.
            return states;
        };
        let same_group = self.graph.group[g as usize] == self.graph.group[fid as usize];
        for (j, path) in args {
            let (j, path) = (*j, path.clone());
            let writes = self.field_writes(g);
            for store in writes.iter().filter(|s| s.param == j) {
                let key = format!("{path}.{}", store.field);
                for s in &mut states {
                    s.retain(|k, _| !under(k, &key));
                }
            }
            let post = match (same_group, bases.contains(&path)) {
                (false, true) => self.post_states(g, j),
                _ => None,
            };
            let Some(post) = post else {
                states = normalize(states);
                continue;
            };
            let mut next = Vec::new();
            for s in &states {
                'alt: for q in post.iter() {
                    let mut s = s.clone();
                    for (rest, v) in q {
                        let key = format!("{path}.{rest}");
                        match s.get(&key) {
                            Some(old) if old != v => continue 'alt,
                            _ => {
                                s.insert(key, *v);
                            }
                        }
                    }
                    next.push(s);
                }
            }
            states = normalize(next);
        }
        states
    }

    /// The contexts a call gives its callee when the alternatives for the
    /// objects it hands over tell the callee something: one per
    /// alternative (each split by its choices), without repeats.
    pub(super) fn envs_per_alternative(
        &self,
        caller: FnId,
        cid: CallId,
        callee: FnId,
        facts: &ConstMap,
    ) -> Option<Vec<ConstMap>> {
        let alternatives = self.refined_facts(caller, cid, callee, facts)?;
        let mut envs: Vec<ConstMap> = Vec::new();
        for facts in &alternatives {
            let env = self.callee_env(caller, cid, callee, facts);
            for env in super::contexts::split_choices(env) {
                if !envs.contains(&env) {
                    envs.push(env);
                }
            }
        }
        Some(envs)
    }

    /// The caller's facts for a call, once per alternative that tells the
    /// callee something it reads about an object it is handed (None: the
    /// facts as they are). An alternative that contradicts a constant the
    /// caller's facts give is a path that cannot be taken here: dropped.
    fn refined_facts(
        &self,
        caller: FnId,
        cid: CallId,
        callee: FnId,
        facts: &ConstMap,
    ) -> Option<Vec<ConstMap>> {
        // Only a call handing over a plain object whose fields the callee
        // reads can learn anything (most calls: no walk needed).
        {
            let f = self.function(caller);
            let g = self.function(callee);
            let reads = self.graph.reads[callee as usize].as_ref();
            let hands_object = f.calls[cid as usize]
                .arg_values
                .iter()
                .enumerate()
                .any(|(j, a)| {
                    let Some(pname) = g.params.get(j).filter(|p| !p.is_empty()) else {
                        return false;
                    };
                    path_of(a).is_some_and(|p| !p.contains('.') && !p.starts_with('$'))
                        && match reads {
                            None => true,
                            Some(r) => r.iter().any(|k| under(k, pname) && k != pname),
                        }
                });
            if !hands_object {
                return None;
            }
        }
        let states = self.call_states(caller, facts);
        let states = states.get(cid as usize)?.as_ref()?;
        if states.is_empty() || states == &vec![State::new()] {
            return None;
        }
        let f = self.function(caller);
        let g = self.function(callee);
        let reads = self.graph.reads[callee as usize].as_ref();
        let call = &f.calls[cid as usize];
        // Caller key -> whether the callee reads it, through the argument
        // that hands it the object.
        let read_by_callee = |key: &str| {
            call.arg_values.iter().enumerate().any(|(j, a)| {
                let (Some(path), Some(pname)) = (path_of(a), g.params.get(j)) else {
                    return false;
                };
                let Some(rest) = key.strip_prefix(path).and_then(|r| r.strip_prefix('.')) else {
                    return false;
                };
                !pname.is_empty()
                    && crate::field_reads::key_is_read(g, reads, &format!("{pname}.{rest}"))
            })
        };
        let relevant = normalize(
            states
                .iter()
                .map(|s| {
                    s.iter()
                        .filter(|(k, _)| read_by_callee(k))
                        .map(|(k, v)| (k.clone(), *v))
                        .collect()
                })
                .collect(),
        );
        if relevant == vec![State::new()] {
            return None;
        }
        let mut out = Vec::new();
        'alt: for s in &relevant {
            let mut m = facts.clone();
            for (k, v) in s {
                match m.get(k) {
                    Some(old) if *old != *v && *old != UNKNOWN_FIELD => continue 'alt,
                    _ => {
                        m.insert(k.clone(), *v);
                    }
                }
            }
            out.push(m);
        }
        if out.is_empty() || (out.len() == 1 && &out[0] == facts) {
            return None;
        }
        Some(out)
    }
}

/// What the walk needs of a function, worked out once: per variable,
/// whether it is a tracked object or a field of one; per call, the
/// arguments that hand over a tracked object or a field of one.
struct Shape {
    tracked_var: Vec<bool>,
    call_args: Vec<Vec<(usize, String)>>,
}

impl Shape {
    fn new(f: &Function, bases: &[String]) -> Shape {
        let tracked = |p: &str| bases.iter().any(|b| under(p, b));
        Shape {
            tracked_var: f.vars.iter().map(|v| tracked(v)).collect(),
            call_args: f
                .calls
                .iter()
                .map(|c| {
                    c.arg_values
                        .iter()
                        .enumerate()
                        .filter_map(|(j, a)| Some((j, path_of(a)?.to_string())))
                        .filter(|(_, p)| tracked(p))
                        .collect()
                })
                .collect(),
        }
    }
}
