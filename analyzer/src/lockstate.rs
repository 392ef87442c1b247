//! Lock states and their transfer: the dataflow lattice of one function.
//!
//! A state is a set of path facts ([`Elem`]): the lock mode held on that path,
//! where it was acquired (for the finding's holder), the mode the function was
//! entered with (so one run yields the function's effect for every entry
//! mode), and an optional guard: "on this path, variable v holds value x",
//! which is how `if (mmap_write_lock_killable(mm)) return -EINTR;` holds the
//! lock on the success branch only.

use std::collections::HashMap;

use crate::catalogue::{AcquireCond, Catalogue, LockApiEntry, LockMode, LockOp};
use crate::ir::{CallSite, CmpOp, Expr, Value, VarId};
use crate::symbolic::excluded_by;
pub use crate::symbolic::{bits_of, has_bits, is_other, other_value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Held {
    None,
    Read,
    Write,
}

impl Held {
    pub const ALL: [Held; 3] = [Held::None, Held::Read, Held::Write];

    pub fn index(self) -> usize {
        self as usize
    }

    fn from_mode(m: LockMode) -> Held {
        match m {
            LockMode::Read => Held::Read,
            LockMode::Write => Held::Write,
        }
    }
}

/// Where the lock held on a path was taken: on entry to the function, or at
/// a call in it (index + 1).
pub type Origin = u32;
pub const ORIGIN_ENTRY: Origin = 0;

pub fn origin_of_call(call: u32) -> Origin {
    call + 1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Elem {
    pub entry: Held,
    pub held: Held,
    pub origin: Origin,
    pub guard: Option<(VarId, GuardVal)>,
    /// A lock flag's value on this path (`write_locked = true;` set next to
    /// `mmap_write_lock`): kept beside the guard, which other calls and
    /// branches overwrite, until the flag variable is assigned again.
    pub flag: Option<(VarId, i64)>,
}

impl Elem {
    /// What this path knows of variables: its guard and its lock flag.
    fn known(&self) -> [Option<(VarId, GuardVal)>; 2] {
        [self.guard, self.flag.map(|(v, c)| (v, GuardVal::Eq(c)))]
    }
}

/// What a path knows of a guard variable's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GuardVal {
    Eq(i64),
    NonZero,
}

/// The lock states of the paths reaching a point: a set of [`Elem`]s, kept
/// as a sorted vector (iterated in order, like a `BTreeSet`): a state holds
/// a handful of elements and is cloned at every node of every analysis.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State(Vec<Elem>);

impl State {
    pub fn new() -> State {
        State(Vec::new())
    }

    /// Adds an element; false when it was there.
    pub fn insert(&mut self, e: Elem) -> bool {
        // Elements mostly arrive in order (made from an ordered state).
        if self.0.last().is_none_or(|last| *last < e) {
            self.0.push(e);
            return true;
        }
        match self.0.binary_search(&e) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, e);
                true
            }
        }
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Elem> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl State {
    /// [`State::union_with`] taking `other` whole: into an empty state
    /// (every node's first visit) it is moved, not copied.
    pub fn union_owned(&mut self, other: State) -> usize {
        if self.0.is_empty() {
            *self = other;
            return self.0.len();
        }
        self.union_with(&other)
    }

    /// Adds the elements of `other`; the number added.
    pub fn union_with(&mut self, other: &State) -> usize {
        let before = self.0.len();
        if other.0.is_empty() {
            return 0;
        }
        if self.0.is_empty() {
            self.0.extend_from_slice(&other.0);
            return other.0.len();
        }
        // Both sorted and free of duplicates. Mostly (a fixpoint revisiting a
        // node) nothing is new: find that out without allocating.
        let (a, b) = (&self.0, &other.0);
        let mut k = 0;
        if b.iter().all(|e| loop {
            match a.get(k).map(|x| x.cmp(e)) {
                Some(std::cmp::Ordering::Less) => k += 1,
                Some(std::cmp::Ordering::Equal) => break true,
                _ => break false,
            }
        }) {
            return 0;
        }
        let mut merged = Vec::with_capacity(a.len() + b.len());
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            match a[i].cmp(&b[j]) {
                std::cmp::Ordering::Less => {
                    merged.push(a[i]);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    merged.push(b[j]);
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    merged.push(a[i]);
                    i += 1;
                    j += 1;
                }
            }
        }
        merged.extend_from_slice(&a[i..]);
        merged.extend_from_slice(&b[j..]);
        self.0 = merged;
        self.0.len() - before
    }
}

impl Extend<Elem> for State {
    fn extend<I: IntoIterator<Item = Elem>>(&mut self, iter: I) {
        for e in iter {
            self.insert(e);
        }
    }
}

impl FromIterator<Elem> for State {
    fn from_iter<I: IntoIterator<Item = Elem>>(iter: I) -> State {
        // Sized once: a state is mostly made from another, element by element.
        let iter = iter.into_iter();
        let mut s = State(Vec::with_capacity(iter.size_hint().0));
        s.extend(iter);
        s
    }
}

impl<const N: usize> From<[Elem; N]> for State {
    fn from(elems: [Elem; N]) -> State {
        elems.into_iter().collect()
    }
}

impl IntoIterator for State {
    type Item = Elem;
    type IntoIter = std::vec::IntoIter<Elem>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a State {
    type Item = &'a Elem;
    type IntoIter = std::slice::Iter<'a, Elem>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

pub fn entry_state() -> State {
    Held::ALL
        .iter()
        .map(|&h| Elem {
            entry: h,
            held: h,
            origin: ORIGIN_ENTRY,
            guard: None,
            flag: None,
        })
        .collect()
}

/// The catalogue entry of a lock API call on the mmap lock, if it is one.
pub fn lock_api<'c>(cat: &'c Catalogue, call: &CallSite) -> Option<&'c LockApiEntry> {
    cat.mmap_lock_call(&call.callee, &call.args)
}

/// Applies a lock API call to a state.
pub fn apply_lock_call(
    state: &State,
    entry: &LockApiEntry,
    call_id: u32,
    result_var: VarId,
) -> State {
    let mut out = State::new();
    for e in state {
        match entry.op {
            LockOp::Acquire => {
                let mode = Held::from_mode(entry.mode.unwrap_or(LockMode::Write));
                let acquired = if e.held == Held::None || mode > e.held {
                    Elem {
                        held: mode,
                        origin: origin_of_call(call_id),
                        ..*e
                    }
                } else {
                    *e
                };
                match entry.cond {
                    None => {
                        out.insert(acquired);
                    }
                    Some(cond) => {
                        let (ok, failed) = match cond {
                            AcquireCond::Zero => (0, -4), // -EINTR
                            AcquireCond::Nonzero => (1, 0),
                        };
                        out.insert(Elem {
                            guard: Some((result_var, GuardVal::Eq(ok))),
                            ..acquired
                        });
                        out.insert(Elem {
                            guard: Some((result_var, GuardVal::Eq(failed))),
                            ..*e
                        });
                    }
                }
            }
            LockOp::Release => {
                out.insert(Elem {
                    held: Held::None,
                    origin: ORIGIN_ENTRY,
                    ..*e
                });
            }
            LockOp::Downgrade => {
                let held = if e.held == Held::Write {
                    Held::Read
                } else {
                    e.held
                };
                out.insert(Elem { held, ..*e });
            }
        }
    }
    out
}

/// Constant values known for this analysis context, by variable id, and
/// the values of the tree's macros (for `flags & FGP_LOCK`).
pub struct Consts<'a> {
    pub by_var: &'a [Option<i64>],
    pub macros: &'a crate::macro_values::MacroTable,
}

#[cfg(test)]
impl<'a> Consts<'a> {
    /// Constants without macro values.
    pub fn plain(by_var: &'a [Option<i64>]) -> Consts<'a> {
        Consts {
            by_var,
            macros: crate::macro_values::MacroTable::empty(),
        }
    }
}

/// A value made by `|` ([`has_bits`], [`crate::symbolic::composite`]):
/// it stands for bits, not for one of the values it is compared with.
fn is_bitwise(v: i64) -> bool {
    bits_of(v).is_some()
        || crate::symbolic::is_composite(v)
        || crate::symbolic::is_at_most(v)
        || crate::symbolic::is_lacks_bits(v)
}

/// Three-valued evaluation of a condition on one path: `None` is unknown.
pub fn eval(expr: &Expr, consts: &Consts, guard: Option<(VarId, GuardVal)>) -> Option<GuardVal> {
    eval_known(expr, consts, &[guard])
}

/// [`eval`] on one path's facts ([`Elem::known`]).
fn eval_path(expr: &Expr, consts: &Consts, e: &Elem) -> Option<GuardVal> {
    eval_known(expr, consts, &e.known())
}

fn eval_known(
    expr: &Expr,
    consts: &Consts,
    known: &[Option<(VarId, GuardVal)>],
) -> Option<GuardVal> {
    use GuardVal::*;
    let truth = |v: Option<GuardVal>| match v {
        Some(v) => truth_of(v),
        None => None,
    };
    let of = |b: bool| Eq(b as i64);
    match expr {
        Expr::Const(c) => Some(Eq(*c)),
        Expr::Var(v) => match known.iter().flatten().find(|(g, _)| g == v) {
            Some((_, val)) => Some(*val),
            None => consts.by_var.get(*v as usize).copied().flatten().map(Eq),
        },
        Expr::Not(a) => truth(eval_known(a, consts, known)).map(|t| of(!t)),
        Expr::And(a, b) => match (
            truth(eval_known(a, consts, known)),
            truth(eval_known(b, consts, known)),
        ) {
            (Some(false), _) | (_, Some(false)) => Some(of(false)),
            (Some(true), Some(true)) => Some(of(true)),
            _ => None,
        },
        Expr::BitAnd(a, b) => match (eval_known(a, consts, known), eval_known(b, consts, known)) {
            (Some(Eq(0)), _) | (_, Some(Eq(0))) => Some(Eq(0)),
            // `flags & FGP_STABLE` with `flags = FGP_LOCK`: on the macros'
            // numbers, or `(x | VM_LOCKED) & VM_LOCKED` by name. Only the
            // truth is given: the number would not compare with symbols.
            (Some(Eq(x)), Some(Eq(y))) => {
                let macro_value = |s| consts.macros.value(s);
                match crate::symbolic::bit_and(x, y, &macro_value) {
                    Some(true) => Some(NonZero),
                    Some(false) => Some(Eq(0)),
                    // At most some bits: compared below by them.
                    None => crate::symbolic::and_at_most(x, y, &macro_value).map(Eq),
                }
            }
            _ => None,
        },
        Expr::Or(a, b) => match (
            truth(eval_known(a, consts, known)),
            truth(eval_known(b, consts, known)),
        ) {
            (Some(true), _) | (_, Some(true)) => Some(of(true)),
            (Some(false), Some(false)) => Some(of(false)),
            _ => None,
        },
        Expr::Cmp(op, a, b) => match (eval_known(a, consts, known)?, eval_known(b, consts, known)?)
        {
            // A value with at most some bits is unequal to one with
            // another bit (`(flags & (VM_WRITE|VM_SHARED)) ==
            // (VM_WRITE|VM_SHARED)` of flags without `VM_SHARED`).
            (Eq(x), Eq(y))
                if matches!(op, CmpOp::Eq | CmpOp::Ne)
                    && crate::symbolic::differs_in_bits(x, y, &|s| consts.macros.value(s)) =>
            {
                Some(of(*op == CmpOp::Ne))
            }
            // A value known only by some of its bits, or an or of flags,
            // compares to nothing.
            (Eq(x), Eq(y)) if is_bitwise(x) || is_bitwise(y) => None,
            // "Any other value" is unequal to what it excludes only.
            (Eq(x), Eq(y)) if is_other(x) || is_other(y) => {
                let (other, c) = if is_other(x) { (x, y) } else { (y, x) };
                match op {
                    _ if is_other(c) => None,
                    CmpOp::Eq if excluded_by(other).contains(&c) => Some(of(false)),
                    CmpOp::Ne if excluded_by(other).contains(&c) => Some(of(true)),
                    _ => None,
                }
            }
            (Eq(x), Eq(y)) => Some(of(match op {
                CmpOp::Eq => x == y,
                CmpOp::Ne => x != y,
                CmpOp::Lt => x < y,
                CmpOp::Le => x <= y,
                CmpOp::Gt => x > y,
                CmpOp::Ge => x >= y,
            })),
            (NonZero, Eq(0)) | (Eq(0), NonZero) => match op {
                CmpOp::Eq => Some(of(false)),
                CmpOp::Ne => Some(of(true)),
                _ => None,
            },
            _ => None,
        },
        Expr::Unknown => None,
    }
}

/// The constant a derived value ([`Value::Cond`], [`Value::Choice`]) has
/// under a context's constants; `None` when they leave it open.
pub fn decided(value: &Value, consts: &Consts) -> Option<i64> {
    match value {
        Value::Const(c) | Value::OrBits(_, c) => Some(*c),
        Value::Cond(e) => truth_of(eval(e, consts, None)?).map(i64::from),
        Value::Choice(e, a, b) => match truth_of(eval(e, consts, None)?)? {
            false => Some(*b),
            true => Some(*a),
        },
        _ => None,
    }
}

/// Splits a state over a branch: (facts on the true edge, facts on the false
/// edge). A path with no guard that branches on a plain variable learns its
/// truth (`if (err) goto out;`: on the true edge err is non-zero), so an
/// error code returned later still tells the caller which path it was.
pub fn route(state: &State, cond: &Expr, consts: &Consts) -> (State, State) {
    let (mut t, mut f) = (
        State(Vec::with_capacity(state.len())),
        State(Vec::with_capacity(state.len())),
    );
    let learned = match cond {
        Expr::Var(v) => Some((*v, GuardVal::NonZero, GuardVal::Eq(0))),
        Expr::Not(inner) => match inner.as_ref() {
            Expr::Var(v) => Some((*v, GuardVal::Eq(0), GuardVal::NonZero)),
            _ => None,
        },
        _ => None,
    };
    for e in state {
        match eval_path(cond, consts, e).and_then(truth_of) {
            Some(false) => {
                f.insert(*e);
            }
            Some(true) => {
                t.insert(*e);
            }
            None => match (learned, e.guard) {
                (Some((v, on_true, on_false)), None) => {
                    t.insert(Elem {
                        guard: Some((v, on_true)),
                        ..*e
                    });
                    f.insert(Elem {
                        guard: Some((v, on_false)),
                        ..*e
                    });
                }
                _ => {
                    t.insert(*e);
                    f.insert(*e);
                }
            },
        }
    }
    (t, f)
}

/// Where an assigned value comes from, as far as guards are concerned.
#[derive(Debug, Clone, Copy)]
pub enum AssignSource {
    /// Another variable (or a call's result variable): its guard moves.
    Var(VarId),
    Const(i64),
    Other,
}

/// Routes a state over a switch: a path whose switched value is known goes
/// to the matching case only (or to `default:`/the exit when none matches).
pub fn route_switch(
    state: &State,
    switched: &Expr,
    cases: &[Option<Expr>],
    succ: &[crate::ir::NodeId],
    consts: &Consts,
) -> Vec<(crate::ir::NodeId, State)> {
    let mut out: Vec<(crate::ir::NodeId, State)> =
        succ.iter().map(|&n| (n, State::new())).collect();
    for e in state {
        let known = eval_path(switched, consts, e);
        if let Some(GuardVal::Eq(v)) =
            known.filter(|k| matches!(k, GuardVal::Eq(v) if is_other(*v)))
        {
            // Every case but the excluded values, and `default:`.
            let excluded = excluded_by(v);
            for ((_, st), case) in out.iter_mut().zip(cases) {
                let ruled_out = match case.as_ref().map(|c| eval(c, consts, None)) {
                    Some(Some(GuardVal::Eq(x))) => excluded.contains(&x),
                    _ => false,
                };
                if !ruled_out {
                    st.insert(*e);
                }
            }
            continue;
        }
        let value = match known {
            Some(GuardVal::Eq(v)) if !is_bitwise(v) => Some(v),
            _ => None,
        };
        let matching = value.and_then(|v| {
            let case_values: Vec<Option<i64>> = cases
                .iter()
                .map(|c| match c.as_ref().map(|c| eval(c, consts, None)) {
                    // `case FOO | BAR:` stands for bits, not a value to match.
                    Some(Some(GuardVal::Eq(x))) if !is_bitwise(x) => Some(x),
                    _ => None,
                })
                .collect();
            // Every case value must be known to rule any of them out.
            if cases
                .iter()
                .zip(&case_values)
                .any(|(c, v)| c.is_some() && v.is_none())
            {
                return None;
            }
            case_values
                .iter()
                .position(|cv| *cv == Some(v))
                .or_else(|| cases.iter().position(|c| c.is_none()))
        });
        match matching {
            Some(i) => {
                out[i].1.insert(*e);
            }
            None => {
                for (_, st) in &mut out {
                    st.insert(*e);
                }
            }
        }
    }
    out
}

/// An assignment moves a guard to the assigned variable (`err = f();`, or
/// `return err;` into the return slot), or kills a guard on the variable it
/// overwrites. Constants are tracked into the return slot, and into a lock
/// flag (`is_lock_flag`: a variable set next to a lock call), so the flag stays
/// correlated with the hold (`mmap_write_lock(mm); write_locked = true;` ...
/// `if (write_locked) mmap_write_downgrade(mm);`).
pub fn apply_assign(
    state: &State,
    var: VarId,
    source: AssignSource,
    is_return: bool,
    is_lock_flag: bool,
) -> State {
    state
        .iter()
        .map(|e| {
            let flag = match (source, e.flag) {
                (AssignSource::Const(c), _) if is_lock_flag => Some((var, c)),
                (_, Some((f, _))) if f == var => None,
                (_, other) => other,
            };
            let guard = match (source, e.guard) {
                (AssignSource::Var(from), Some((g, v))) if g == from => Some((var, v)),
                (AssignSource::Const(c), _) if is_return => Some((var, GuardVal::Eq(c))),
                (_, Some((g, _))) if g == var || is_return => None,
                (_, other) => other,
            };
            Elem { guard, flag, ..*e }
        })
        .collect()
}

/// What a callee does to the lock: for each entry mode, the possible exit
/// modes and whether the hold is the caller's (true) or taken in the callee.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effect {
    /// (mode on exit, hold is the caller's, what the return value is known to be)
    pub exits: [Vec<(Held, bool, Option<GuardVal>)>; 3],
}

impl Effect {
    pub fn identity() -> Effect {
        Effect {
            exits: [
                vec![(Held::None, true, None)],
                vec![(Held::Read, true, None)],
                vec![(Held::Write, true, None)],
            ],
        }
    }

    pub fn is_identity(&self) -> bool {
        // Asked at every call of a function that may touch the lock: compared
        // in place, not against a fresh `identity()` (three allocations).
        Held::ALL
            .iter()
            .zip(&self.exits)
            .all(|(&held, exits)| exits.as_slice() == [(held, true, None)])
    }
}

/// Applies a callee's effect at a call site.
pub fn apply_effect(state: &State, effect: &Effect, call_id: u32, result_var: VarId) -> State {
    let mut out = State::new();
    for e in state {
        for &(held, keeps_origin, ret) in &effect.exits[e.held.index()] {
            let origin = if held == Held::None {
                ORIGIN_ENTRY
            } else if keeps_origin {
                e.origin
            } else {
                origin_of_call(call_id)
            };
            let guard = match ret {
                Some(v) => Some((result_var, v)),
                None => e.guard,
            };
            out.insert(Elem {
                held,
                origin,
                guard,
                ..*e
            });
        }
    }
    out
}

/// The effect read off a function's exit state.
pub fn effect_of_exit(exit: &State, return_var: Option<VarId>) -> Effect {
    let mut exits: [Vec<(Held, bool, Option<GuardVal>)>; 3] = Default::default();
    for e in exit {
        let ret = match (e.guard, return_var) {
            (Some((g, v)), Some(r)) if g == r => Some(v),
            _ => None,
        };
        let item = (
            e.held,
            e.held == Held::None || e.origin == ORIGIN_ENTRY,
            ret,
        );
        let list = &mut exits[e.entry.index()];
        if !list.contains(&item) {
            list.push(item);
        }
    }
    for l in &mut exits {
        l.sort();
    }
    Effect { exits }
}

/// Whether a known value is true: "any other value" is non-zero only if it
/// excludes 0; every other known value by itself.
pub fn truth_of(v: GuardVal) -> Option<bool> {
    match v {
        GuardVal::Eq(0) => Some(false),
        GuardVal::Eq(x) if is_other(x) => excluded_by(x).contains(&0).then_some(true),
        // Some bits, maybe none.
        GuardVal::Eq(x) if crate::symbolic::is_at_most(x) || crate::symbolic::is_lacks_bits(x) => {
            None
        }
        _ => Some(true),
    }
}

/// Constants by variable or field path. Iterated only into sets and sorted
/// lists, so its (hasher-dependent) order reaches no result.
pub type ConstMap = HashMap<String, i64, foldhash::fast::RandomState>;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn elem(code: u8) -> Elem {
        let held = Held::ALL[(code % 3) as usize];
        let guard = match code / 3 % 3 {
            0 => None,
            1 => Some((u32::from(code % 2), GuardVal::NonZero)),
            _ => Some((0, GuardVal::Eq(i64::from(code % 5)))),
        };
        Elem {
            entry: Held::ALL[(code / 9 % 3) as usize],
            held,
            origin: u32::from(code / 27),
            guard,
            flag: None,
        }
    }

    proptest! {
        /// A state holds and orders elements as the `BTreeSet` it replaced.
        #[test]
        fn states_are_ordered_sets(xs in proptest::collection::vec(any::<u8>(), 0..24), ys in proptest::collection::vec(any::<u8>(), 0..24)) {
            let mut set: std::collections::BTreeSet<Elem> = xs.iter().map(|&c| elem(c)).collect();
            let mut state: State = xs.iter().map(|&c| elem(c)).collect();
            prop_assert_eq!(state.iter().copied().collect::<Vec<_>>(), set.iter().copied().collect::<Vec<_>>());
            let other: State = ys.iter().map(|&c| elem(c)).collect();
            let before = set.len();
            set.extend(ys.iter().map(|&c| elem(c)));
            let mut owned = state.clone();
            prop_assert_eq!(state.union_with(&other), set.len() - before);
            prop_assert_eq!(state.iter().copied().collect::<Vec<_>>(), set.iter().copied().collect::<Vec<_>>());
            // Taking the other state whole adds the same.
            prop_assert_eq!(owned.union_owned(other), set.len() - before);
            prop_assert_eq!(owned, state);
        }
    }

    #[test]
    fn identity_effects_are_told_apart_in_place() {
        assert!(Effect::identity().is_identity());
        let mut released = Effect::identity();
        released.exits[Held::Write.index()] = vec![(Held::None, true, None)];
        assert!(!released.is_identity());
        let mut returns = Effect::identity();
        returns.exits[Held::None.index()] = vec![(Held::None, true, Some(GuardVal::Eq(0)))];
        assert!(!returns.is_identity());
        let mut also = Effect::identity();
        also.exits[Held::Read.index()].push((Held::None, true, None));
        assert!(!also.is_identity());
    }

    /// One path, no lock held, nothing known.
    fn unlocked() -> State {
        [Elem {
            entry: Held::None,
            held: Held::None,
            origin: 0,
            guard: None,
            flag: None,
        }]
        .into()
    }

    #[test]
    fn killable_acquire_holds_only_on_success_branch() {
        let cat = Catalogue::builtin();
        let entry = &cat.lock_api["mmap_write_lock_killable"];
        let s: State = unlocked();
        let after = apply_lock_call(&s, entry, 0, 7);
        // if (mmap_write_lock_killable(mm)) return -EINTR;
        let consts = Consts::plain(&[]);
        let (t, f) = route(&after, &Expr::Var(7), &consts);
        let _ = GuardVal::NonZero;
        assert!(
            t.iter().all(|e| e.held == Held::None),
            "error path does not hold"
        );
        assert!(
            f.iter().all(|e| e.held == Held::Write),
            "success path holds"
        );
    }

    #[test]
    fn trylock_in_negated_condition() {
        let cat = Catalogue::builtin();
        let entry = &cat.lock_api["mmap_read_trylock"];
        let s: State = unlocked();
        let after = apply_lock_call(&s, entry, 0, 3);
        let consts = Consts::plain(&[]);
        let (t, f) = route(&after, &Expr::Not(Box::new(Expr::Var(3))), &consts);
        assert!(t.iter().all(|e| e.held == Held::None));
        assert!(f.iter().all(|e| e.held == Held::Read));
    }

    #[test]
    fn three_valued_logic() {
        let consts = Consts::plain(&[Some(1), None]);
        let or = Expr::Or(
            Box::new(Expr::Var(1)),
            Box::new(Expr::Not(Box::new(Expr::Var(0)))),
        );
        assert_eq!(eval(&or, &consts, None), None);
        let or2 = Expr::Or(Box::new(Expr::Var(1)), Box::new(Expr::Var(0)));
        assert_eq!(eval(&or2, &consts, None), Some(GuardVal::Eq(1)));
        // A path that learned `err != 0` takes `if (err)`.
        assert_eq!(
            eval(&Expr::Var(1), &consts, Some((1, GuardVal::NonZero))),
            Some(GuardVal::NonZero)
        );
        assert_eq!(
            eval(
                &Expr::Not(Box::new(Expr::Var(1))),
                &consts,
                Some((1, GuardVal::NonZero))
            ),
            Some(GuardVal::Eq(0))
        );
    }

    #[test]
    fn a_lock_flag_survives_a_guard_and_decides_its_branch() {
        let cat = Catalogue::builtin();
        let s: State = unlocked();
        // mmap_write_lock(mm); write_locked (var 2) = true;
        let locked = apply_lock_call(&s, &cat.lock_api["mmap_write_lock"], 0, 9);
        let flagged = apply_assign(&locked, 2, AssignSource::Const(1), false, true);
        // A branch on another variable gives the path a guard...
        let consts = Consts::plain(&[]);
        let (t, _) = route(&flagged, &Expr::Var(5), &consts);
        assert!(t
            .iter()
            .all(|e| e.guard.is_some() && e.flag == Some((2, 1))));
        // ...and `if (write_locked)` still takes only the true edge.
        let (t, f) = route(&t, &Expr::Var(2), &consts);
        assert_eq!(t.len(), 1);
        assert!(f.is_empty());
        // Another assignment to the flag (not a constant) forgets it.
        let forgot = apply_assign(&t, 2, AssignSource::Other, false, true);
        assert!(forgot.iter().all(|e| e.flag.is_none()));
    }

    #[test]
    fn derived_values_are_decided_by_constants() {
        let consts = Consts::plain(&[Some(0), None]);
        let ne = Expr::Cmp(CmpOp::Ne, Box::new(Expr::Var(0)), Box::new(Expr::Const(0)));
        assert_eq!(decided(&Value::Cond(ne), &consts), Some(0));
        let lt = Expr::Cmp(CmpOp::Lt, Box::new(Expr::Var(0)), Box::new(Expr::Const(0)));
        assert_eq!(decided(&Value::Choice(lt, -1, 0), &consts), Some(0));
        let open = Expr::Cmp(CmpOp::Ne, Box::new(Expr::Var(1)), Box::new(Expr::Const(0)));
        assert_eq!(decided(&Value::Cond(open), &consts), None);
    }

    #[test]
    fn a_case_of_or_ed_flags_rules_no_path_out() {
        // `switch (mode) { case A | B: ...; case C: ...; }` with mode = D:
        // `A | B` is bits, not a value; D may equal it, so no case is ruled out.
        let [a, b, c, d] =
            ["DEMO_A", "DEMO_B", "DEMO_C", "DEMO_D"].map(crate::symbolic::symbol_hash);
        let by_var = [Some(d)];
        let consts = Consts::plain(&by_var);
        let cases = vec![
            Some(Expr::Const(crate::symbolic::composite(&[a, b]))),
            Some(Expr::Const(c)),
            None,
        ];
        let routed = route_switch(&unlocked(), &Expr::Var(0), &cases, &[10, 11, 12], &consts);
        assert!(routed.iter().all(|(_, st)| !st.is_empty()), "{routed:?}");
        // Plain constants only: D matches none, the path goes to `default:`.
        let plain = vec![Some(Expr::Const(a)), Some(Expr::Const(c)), None];
        let routed = route_switch(&unlocked(), &Expr::Var(0), &plain, &[10, 11, 12], &consts);
        let reached: Vec<bool> = routed.iter().map(|(_, st)| !st.is_empty()).collect();
        assert_eq!(reached, [false, false, true]);
    }
}
