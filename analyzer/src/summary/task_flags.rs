//! Task flags carried into callees (catalogue `[task_flags]`): a call made
//! after `memalloc_noreclaim_save()` on every path runs with `PF_MEMALLOC`
//! set, so its callees are analyzed with the flag word (`current.flags`)
//! known to have the flag's bits, and migration's `if (current->flags &
//! PF_MEMALLOC) goto out;` before `folio_lock()` is decided there.
//!
//! Which flags hold at a call is a must-analysis over the caller's CFG in
//! its own order: a setter sets its flag, a restorer gives it back the
//! value the caller's context had on entry, and where paths meet a flag
//! holds only if it holds on all of them. The word is carried only into
//! callees that can reach a test of it, so the other callees keep the
//! contexts (and memoized results) they had.

use std::collections::HashMap;
use std::rc::Rc;

use super::{Fast, FnId, Program};
use crate::catalogue::Catalogue;
use crate::ir::*;
use crate::lockstate::ConstMap;

/// Flags by bit index (at most [`MAX_FLAGS`]).
type FlagBits = u32;
/// Per (function, flags set on entry): the flags set at each call.
pub(super) type FlagsMemo = std::cell::RefCell<HashMap<(FnId, FlagBits), Rc<Vec<FlagBits>>, Fast>>;
const MAX_FLAGS: usize = FlagBits::BITS as usize;

/// The catalogue's task flags, resolved for one program.
pub(super) struct TaskFlagTable {
    /// The flag word's path; `None` when the catalogue names no word or
    /// no flag (the pass is then off).
    word: Option<String>,
    /// Per flag bit: the symbolic value of its name.
    flags: Vec<i64>,
    setters: HashMap<String, FlagBits, Fast>,
    restorers: HashMap<String, FlagBits, Fast>,
    /// Per function: it, or a function it reaches, tests the word.
    relevant: Vec<bool>,
    /// Per function: it calls a setter or a restorer.
    changes: Vec<bool>,
}

impl TaskFlagTable {
    pub(super) fn new(
        cat: &Catalogue,
        functions: &[std::sync::Arc<Function>],
        callers: &[Vec<(FnId, CallId)>],
    ) -> TaskFlagTable {
        let tf = &cat.task_flags;
        let mut names: Vec<&str> = tf
            .setters
            .values()
            .chain(tf.restorers.values())
            .map(|f| f.0.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        names.truncate(MAX_FLAGS);
        let bit = |name: &str| names.iter().position(|n| *n == name).map_or(0, |i| 1 << i);
        let setters: HashMap<String, FlagBits, Fast> = tf
            .setters
            .iter()
            .map(|(call, flag)| (call.clone(), bit(&flag.0)))
            .collect();
        let restorers: HashMap<String, FlagBits, Fast> = tf
            .restorers
            .iter()
            .map(|(call, flag)| (call.clone(), bit(&flag.0)))
            .collect();
        let word = tf
            .word
            .as_ref()
            .filter(|_| !names.is_empty())
            .map(|w| w.0.clone());
        let tests: Vec<bool> = functions
            .iter()
            .map(|f| word.as_deref().is_some_and(|w| tests_word(f, w)))
            .collect();
        let changes = functions
            .iter()
            .map(|f| {
                f.calls
                    .iter()
                    .any(|c| setters.contains_key(&c.callee) || restorers.contains_key(&c.callee))
                    || word.as_deref().is_some_and(|w| assigns_word(f, w))
            })
            .collect();
        TaskFlagTable {
            word,
            flags: names
                .iter()
                .map(|n| crate::symbolic::symbol_hash(n))
                .collect(),
            setters,
            restorers,
            relevant: crate::callgraph::propagate(&tests, callers),
            changes,
        }
    }
}

/// Whether `f` assigns `word` itself (`current->flags |= PF_MEMALLOC;`
/// around direct compaction before 4.11).
fn assigns_word(f: &Function, word: &str) -> bool {
    let Some(var) = f.var_id(word) else {
        return false;
    };
    f.cfg.nodes.iter().any(|n| {
        n.events
            .iter()
            .any(|ev| matches!(ev, Event::Assign { var: v, .. } if *v == var))
    })
}

/// Whether a branch condition or a derived value of `f` reads `word`.
fn tests_word(f: &Function, word: &str) -> bool {
    let Some(var) = f.var_id(word) else {
        return false;
    };
    f.cfg.nodes.iter().any(|n| {
        n.branch.as_ref().is_some_and(|b| b.reads(var))
            || n.events.iter().any(|ev| {
                matches!(ev, Event::Assign { value: Value::Cond(e) | Value::Choice(e, ..), .. }
                    if e.reads(var))
            })
    })
}

impl Program<'_> {
    /// The flag word a call gives its callee `g`, with the value saying which
    /// flags are set (`None`: nothing known, or `g` never tests it).
    pub(super) fn task_flags_for(
        &self,
        caller: FnId,
        cid: CallId,
        g: FnId,
        facts: &ConstMap,
    ) -> Option<(&str, i64)> {
        let table = &self.task_flags;
        let word = table.word.as_deref()?;
        if !table.relevant[g as usize] {
            return None;
        }
        let entry = self.entry_flags(facts);
        let bits = if table.changes[caller as usize] {
            self.flags_at_calls(caller, entry)[cid as usize]
        } else {
            entry
        };
        if bits == 0 {
            return None;
        }
        self.word_value(bits).map(|v| (word, v))
    }

    /// The flags a context's facts say are set in the word.
    fn entry_flags(&self, facts: &ConstMap) -> FlagBits {
        let table = &self.task_flags;
        let Some(value) = table.word.as_deref().and_then(|w| facts.get(w)) else {
            return 0;
        };
        let macro_value = |s| self.macros.value(s);
        table
            .flags
            .iter()
            .enumerate()
            .filter(|(_, f)| crate::symbolic::bit_and(*value, **f, &macro_value) == Some(true))
            .fold(0, |acc, (i, _)| acc | 1 << i)
    }

    /// "A word with these flags set": by name for one flag; for several,
    /// on the macros' numbers when every one has a number, else the first
    /// flag alone (fewer known bits is never wrong).
    fn word_value(&self, bits: FlagBits) -> Option<i64> {
        let set: Vec<i64> = (0..self.task_flags.flags.len())
            .filter(|i| bits & (1 << i) != 0)
            .map(|i| self.task_flags.flags[i])
            .collect();
        let numbers: Option<u64> = set
            .iter()
            .try_fold(0u64, |acc, f| Some(acc | self.macros.value(*f)?));
        match (set.as_slice(), numbers) {
            ([one], _) => crate::symbolic::has_bits(*one),
            (_, Some(n)) if n > 0 && n < 1 << 40 => crate::symbolic::has_bits(n as i64),
            _ => set.first().and_then(|f| crate::symbolic::has_bits(*f)),
        }
    }

    /// Per call of `fid`: the flags set on every path to it, given those
    /// set on entry (memoized).
    fn flags_at_calls(&self, fid: FnId, entry: FlagBits) -> Rc<Vec<FlagBits>> {
        if let Some(r) = self.task_flags_memo.borrow().get(&(fid, entry)) {
            return r.clone();
        }
        let f = self.function(fid);
        let assign = |v: &Value, s: FlagBits| self.assigned_flags(v, s);
        let transfer = Transfer {
            setters: &self.task_flags.setters,
            restorers: &self.task_flags.restorers,
            word: self
                .task_flags
                .word
                .as_deref()
                .and_then(|w| f.var_id(w))
                .map(|var| (var, &assign as &AssignedFlags)),
        };
        let r = Rc::new(must_flags(f, entry, &transfer));
        self.task_flags_memo
            .borrow_mut()
            .insert((fid, entry), r.clone());
        r
    }

    /// The flags set after an assignment of the word, given `s` before:
    /// `|= F` sets F, `&= ~G` keeps a flag the macros show is no bit of G,
    /// any other assignment leaves none known.
    fn assigned_flags(&self, v: &Value, s: FlagBits) -> FlagBits {
        let macro_value = |x| self.macros.value(x);
        let and = |c: i64, flag: i64| {
            if c == flag {
                Some(true)
            } else {
                crate::symbolic::bit_and(c, flag, &macro_value)
            }
        };
        let flags = &self.task_flags.flags;
        (0..flags.len()).fold(0, |acc, i| {
            let bit: FlagBits = 1 << i;
            let set = match v {
                Value::SetBits(c) => s & bit != 0 || and(*c, flags[i]) == Some(true),
                Value::ClearBits(c) => s & bit != 0 && and(*c, flags[i]) == Some(false),
                _ => false,
            };
            if set {
                acc | bit
            } else {
                acc
            }
        })
    }
}

/// What an assignment of the word leaves set, given what was set before.
type AssignedFlags<'a> = dyn Fn(&Value, FlagBits) -> FlagBits + 'a;

/// What a function's own code does to the flags.
struct Transfer<'a> {
    setters: &'a HashMap<String, FlagBits, Fast>,
    restorers: &'a HashMap<String, FlagBits, Fast>,
    /// The word's variable in the function, and what an assignment of it
    /// leaves set ([`Program::assigned_flags`]).
    word: Option<(VarId, &'a AssignedFlags<'a>)>,
}

/// The must-analysis: per call, the flags set before it on every path from
/// the entry (calls on no path from the entry: none).
fn must_flags(f: &Function, entry: FlagBits, transfer: &Transfer) -> Vec<FlagBits> {
    let Transfer {
        setters,
        restorers,
        word,
    } = transfer;
    let nodes = &f.cfg.nodes;
    let mut at_call = vec![FlagBits::MAX; f.calls.len()];
    let mut seen_call = vec![false; f.calls.len()];
    // In-state per node; `None` until a path reaches it.
    let mut state: Vec<Option<FlagBits>> = vec![None; nodes.len()];
    state[f.cfg.entry as usize] = Some(entry);
    let mut worklist = vec![f.cfg.entry];
    while let Some(n) = worklist.pop() {
        let Some(mut s) = state[n as usize] else {
            continue;
        };
        for ev in &nodes[n as usize].events {
            let cid = match ev {
                Event::Call(cid) => cid,
                Event::Assign { var, value } => {
                    if let Some((_, assigned)) = word.filter(|(w, _)| w == var) {
                        s = assigned(value, s);
                    }
                    continue;
                }
            };
            let call = &f.calls[*cid as usize];
            at_call[*cid as usize] &= s;
            seen_call[*cid as usize] = true;
            if let Some(b) = setters.get(&call.callee) {
                s |= b;
            }
            if let Some(b) = restorers.get(&call.callee) {
                s = (s & !b) | (entry & b);
            }
        }
        for &succ in &nodes[n as usize].succ {
            let slot = &mut state[succ as usize];
            let met = slot.map_or(s, |old| old & s);
            if *slot != Some(met) {
                *slot = Some(met);
                worklist.push(succ);
            }
        }
    }
    // A call's state is final once its node's is: recompute from the
    // fixpoint (the running meet above also saw intermediate states, which
    // only ever had more bits than the final one).
    at_call
        .iter()
        .zip(&seen_call)
        .map(|(b, seen)| if *seen { *b } else { 0 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str) -> CallSite {
        CallSite {
            callee: name.to_string(),
            args: Vec::new(),
            arg_values: Vec::new(),
            line: 1,
            column: 1,
            in_loop: false,
            result_var: 0,
            catalogued: Default::default(),
            on_fresh_object: false,
        }
    }

    /// entry -> {save; a()} or {b()} -> join: c(); restore; d()
    fn diamond(save_on_both: bool) -> Function {
        let calls = ["save", "a", "b", "save", "c", "restore", "d"]
            .map(call)
            .to_vec();
        let node = |ids: &[u32], succ: &[u32]| Node {
            events: ids.iter().map(|&i| Event::Call(i)).collect(),
            succ: succ.to_vec(),
            ..Default::default()
        };
        let else_calls: &[u32] = if save_on_both { &[3, 2] } else { &[2] };
        Function {
            name: "f".into(),
            file: 0,
            line: 1,
            params: Vec::new(),
            is_static: false,
            has_parse_error: false,
            cfg: Cfg {
                nodes: vec![
                    node(&[], &[1, 2]),
                    node(&[0, 1], &[3]),
                    node(else_calls, &[3]),
                    node(&[4, 5, 6], &[4]),
                    node(&[], &[]),
                ],
                entry: 0,
                exit: 4,
            },
            calls,
            vars: Vec::new(),
            lock_flags: Vec::new(),
            entry_hint: None,
            entry_facts: Vec::new(),
            field_stores: Vec::new(),
            retry_marker_lines: Vec::new(),
            content_key: 0,
            skipped: None,
        }
    }

    #[test]
    fn a_flag_holds_after_a_setter_on_every_path_until_restored() {
        let setters = HashMap::from_iter([("save".to_string(), 1)]);
        let restorers = HashMap::from_iter([("restore".to_string(), 1)]);
        // Saved on one branch only: not set at the join.
        let transfer = Transfer {
            setters: &setters,
            restorers: &restorers,
            word: None,
        };
        let one = must_flags(&diamond(false), 0, &transfer);
        assert_eq!(one, vec![0, 1, 0, 0, 0, 0, 0]);
        // Saved on both: set at the join, cleared by the restore.
        let both = must_flags(&diamond(true), 0, &transfer);
        assert_eq!(both, vec![0, 1, 1, 0, 1, 1, 0]);
        // Entered with the flag: a restore gives it back.
        let entered = must_flags(&diamond(false), 1, &transfer);
        assert_eq!(entered, vec![1, 1, 1, 0, 1, 1, 1]);
    }
}
