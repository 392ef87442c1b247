//! The resolved call graph of a program: which definition each call
//! resolves to, callers, what may touch the lock or reach a long
//! operation, the cycle groups (strongly connected components), and the
//! keys that say what a function's result can depend on (its text, and
//! the closure of what it reaches), by which summaries are reused.

use std::collections::HashMap;

use crate::ir::{CallId, Function};
use crate::summary_store::{hash128, ClosureKey, StableKey};

pub type FnId = u32;

/// The hasher of the analysis's lookup tables (never iterated: their
/// order cannot reach a result).
pub type Fast = foldhash::fast::RandomState;

/// The call graph of one program, and the keys derived from it.
pub struct CallGraph {
    /// Per function, per call: the definition the call resolves to.
    pub resolved: Vec<Vec<Option<FnId>>>,
    pub callers: Vec<Vec<(FnId, CallId)>>,
    pub may_touch_lock: Vec<bool>,
    /// May reach a long operation, or a call with no definition here.
    pub may_reach_long: Vec<bool>,
    /// Per function: its file and text ([`StableKey`]), and its reach.
    pub stable: Vec<StableKey>,
    pub closure: Vec<ClosureKey>,
    pub by_stable: HashMap<StableKey, FnId, Fast>,
    pub by_closure: HashMap<ClosureKey, FnId, Fast>,
    /// Per function, its cycle group; per group, whether it has a cycle.
    pub group: Vec<u32>,
    pub cyclic: Vec<bool>,
}

impl CallGraph {
    /// Resolves every call of `functions` (a name defined in the caller's
    /// file first, then a non-static definition, then any; a definition in a
    /// NOMMU-only file last) and derives the rest.
    pub fn new(
        files: &[String],
        functions: &[std::sync::Arc<Function>],
        macros: &crate::macro_values::MacroTable,
    ) -> CallGraph {
        let mut by_name: HashMap<&str, Vec<FnId>, foldhash::fast::RandomState> = HashMap::default();
        for (i, f) in functions.iter().enumerate() {
            by_name.entry(f.name.as_str()).or_default().push(i as FnId);
        }
        // `mm/nommu.c`, `fs/ramfs/file-nommu.c`: built only without an MMU,
        // where there is no mmap lock to stall. Their functions stand in for
        // MMU ones of the same name (`ramfs_nommu_expand_for_mapping` is an
        // empty inline in a header with an MMU): followed only when nothing
        // else defines the name.
        let nommu_file: Vec<bool> = files.iter().map(|f| is_nommu_only(f)).collect();
        let nommu = |c: FnId| {
            let f = &functions[c as usize];
            nommu_file.get(f.file as usize).copied().unwrap_or(false)
        };
        let resolve = |caller: &Function, name: &str| -> Option<FnId> {
            let cands = by_name.get(name)?;
            cands
                .iter()
                .find(|&&c| functions[c as usize].file == caller.file)
                .or_else(|| {
                    cands
                        .iter()
                        .find(|&&c| !functions[c as usize].is_static && !nommu(c))
                })
                .or_else(|| cands.iter().find(|&&c| !nommu(c)))
                .or_else(|| cands.first())
                .copied()
        };
        let resolved: Vec<Vec<Option<FnId>>> = functions
            .iter()
            .map(|f| {
                f.calls
                    .iter()
                    .map(|c| {
                        if c.catalogued.long_op && !c.catalogued.long_op_unless_defined {
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
        // analysis must descend to it so the run can pull its definition.
        let direct_long: Vec<bool> = functions
            .iter()
            .zip(&resolved)
            .map(|(f, res)| {
                f.calls.iter().zip(res).any(|(c, r)| {
                    let k = c.catalogued;
                    (k.long_op && (r.is_none() || !k.long_op_unless_defined))
                        || (r.is_none() && !k.lock_name && !k.assertion)
                })
            })
            .collect();
        let may_touch_lock = propagate(&direct_lock, &callers);
        let may_reach_long = propagate(&direct_long, &callers);
        let stable = stable_keys(files, functions, macros);
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
        CallGraph {
            resolved,
            callers,
            may_touch_lock,
            may_reach_long,
            stable,
            closure,
            by_stable,
            by_closure,
            group: groups.of,
            cyclic: groups.cyclic,
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
}

/// Per function, its file and text, and the numbers the tree's macros give
/// the flags it names: the same in every program that has it (an ordinal
/// tells apart identical definitions in one file).
fn stable_keys(
    files: &[String],
    functions: &[std::sync::Arc<Function>],
    macros: &crate::macro_values::MacroTable,
) -> Vec<StableKey> {
    let mut seen: HashMap<StableKey, u32, Fast> = HashMap::default();
    functions
        .iter()
        .map(|f| {
            let file = files.get(f.file as usize).map(String::as_str).unwrap_or("");
            let numbers = if macros.is_empty() {
                Vec::new()
            } else {
                flag_numbers(f, macros)
            };
            let key = hash128(&(file, f.content_key, f.entry_hint.map(|h| h.mode), numbers));
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

/// The symbolic constants a function names (in arguments, assignments,
/// conditions) with the numbers the macros give them, in body order.
fn flag_numbers(f: &Function, macros: &crate::macro_values::MacroTable) -> Vec<(i64, u64)> {
    use crate::ir::{Event, Expr, Value};
    fn expr(e: &Expr, out: &mut Vec<i64>) {
        match e {
            Expr::Const(c) => out.push(*c),
            Expr::Not(a) => expr(a, out),
            Expr::And(a, b) | Expr::Or(a, b) | Expr::Cmp(_, a, b) | Expr::BitAnd(a, b) => {
                expr(a, out);
                expr(b, out);
            }
            Expr::Var(_) | Expr::Unknown => {}
        }
    }
    fn value(v: &Value, out: &mut Vec<i64>) {
        match v {
            Value::Const(c) => out.push(*c),
            Value::Cond(e) => expr(e, out),
            Value::Choice(e, a, b) => {
                expr(e, out);
                out.extend([*a, *b]);
            }
            Value::Path(_) | Value::CallResult(_) | Value::Unknown => {}
        }
    }
    let mut consts = Vec::new();
    for c in &f.calls {
        for v in &c.arg_values {
            value(v, &mut consts);
        }
    }
    for node in &f.cfg.nodes {
        for ev in &node.events {
            if let Event::Assign { value: v, .. } = ev {
                value(v, &mut consts);
            }
        }
        if let Some(b) = &node.branch {
            expr(b, &mut consts);
        }
        if let Some((e, cases)) = &node.switch {
            expr(e, &mut consts);
            for c in cases.iter().flatten() {
                expr(c, &mut consts);
            }
        }
    }
    consts
        .into_iter()
        .filter_map(|c| {
            let bits = crate::symbolic::bits_known(c, &|s| macros.value(s))?;
            let (crate::symbolic::Bits::Exact(n) | crate::symbolic::Bits::AtLeast(n)) = bits;
            (n as i64 != c).then_some((c, n))
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

/// A file built only for kernels without an MMU (`mm/nommu.c`,
/// `fs/ramfs/file-nommu.c`, `arch/*/mm/*nommu*`).
fn is_nommu_only(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|name| name.contains("nommu") && name.ends_with(".c"))
}
