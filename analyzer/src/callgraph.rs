//! The resolved call graph of a program: which definition each call
//! resolves to, callers, what may touch the lock or reach a long
//! operation, the cycle groups (strongly connected components), and the
//! keys that say what a function's result can depend on (its text, and
//! the closure of what it reaches), by which summaries are reused.

use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;

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
    /// Calls through a function-pointer parameter (`visit(vma, ..)` in a
    /// walker): the functions callers hand to that parameter.
    pub param_targets: HashMap<(FnId, CallId), Vec<FnId>, Fast>,
    /// Per call site handing functions to such a parameter: (the
    /// parameter's index, the function).
    pub fn_args: HashMap<(FnId, CallId), Vec<(usize, FnId)>, Fast>,
    /// A function handed on as a value, as the constant a context carries.
    pub by_fn_code: HashMap<i64, FnId, Fast>,
    /// Per function, its cycle group; per group, whether it has a cycle.
    pub group: Vec<u32>,
    pub cyclic: Vec<bool>,
    /// Per function, the fields of its parameters it may read
    /// ([`crate::field_reads`]): a context carries no other.
    pub reads: crate::field_reads::FieldReads,
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
        // The functions' stable keys are made beside the resolution.
        let (resolved, stable): (Vec<Vec<Option<FnId>>>, _) = rayon::join(
            || resolve_calls(functions, &resolve),
            || stable_keys(files, functions, macros),
        );
        let mut callbacks = Callbacks::new(functions, &resolved, |f, name| resolve(f, name));
        // Ids depend on the order files were read (another revision reads
        // them in another order): a walker's callbacks are ordered by what
        // they are, so its closure key, hence summary reuse, does not move.
        for targets in callbacks.param_targets.values_mut() {
            targets.sort_by_key(|&t| stable[t as usize]);
        }
        let mut callers = vec![Vec::new(); functions.len()];
        for (fi, calls) in resolved.iter().enumerate() {
            for (ci, callee) in calls.iter().enumerate() {
                if let Some(g) = callee {
                    callers[*g as usize].push((fi as FnId, ci as CallId));
                }
            }
        }
        // A walker calls what it was handed: an edge for everything below.
        // (In call order: the order of callers and edges reaches results and keys.)
        let mut edges = resolved.clone();
        let mut walker_calls: Vec<&(FnId, CallId)> = callbacks.param_targets.keys().collect();
        walker_calls.sort();
        for &(walker, cid) in walker_calls {
            for &t in &callbacks.param_targets[&(walker, cid)] {
                callers[t as usize].push((walker, cid));
                edges[walker as usize].push(Some(t));
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
                        || (r.is_none() && !k.lock_name && !k.assertion && !k.pure)
                })
            })
            .collect();
        let may_touch_lock = propagate(&direct_lock, &callers);
        let may_reach_long = propagate(&direct_long, &callers);
        let groups = cycle_groups(&edges);
        // The field reads (the longest step, one function after another) beside the rest.
        let (reads, closure) = rayon::join(
            || {
                crate::field_reads::field_reads(
                    functions,
                    &crate::field_reads::CallGroups {
                        of: &groups.of,
                        members: &groups.members,
                        cyclic: &groups.cyclic,
                        callees: &edges,
                    },
                    &|f, c| {
                        let mut out: Vec<FnId> = resolved[f as usize][c].into_iter().collect();
                        if let Some(targets) = callbacks.param_targets.get(&(f, c as CallId)) {
                            out.extend(targets.iter().copied());
                        }
                        out
                    },
                )
            },
            || closure_keys(&stable, &edges, &groups),
        );
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
        let by_fn_code = callbacks
            .param_targets
            .values()
            .flatten()
            .map(|&t| (fn_code(stable[t as usize]), t))
            .collect();
        CallGraph {
            param_targets: callbacks.param_targets,
            fn_args: callbacks.fn_args,
            by_fn_code,
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
            reads,
        }
    }

    /// The constant that stands for function `g` handed on as a value.
    pub fn fn_code(&self, g: FnId) -> i64 {
        fn_code(self.stable[g as usize])
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

/// Per function, per call: the definition the call resolves to (`resolve`).
fn resolve_calls(
    functions: &[std::sync::Arc<Function>],
    resolve: &(dyn Fn(&Function, &str) -> Option<FnId> + Sync),
) -> Vec<Vec<Option<FnId>>> {
    functions
        .par_iter()
        .map(|f| {
            f.calls
                .iter()
                .map(|c| {
                    // A call through a parameter is not a call of a
                    // function that happens to share its name.
                    if (c.catalogued.long_op && !c.catalogued.long_op_unless_defined)
                        || f.params.contains(&c.callee)
                    {
                        None
                    } else {
                        resolve(f, &c.callee)
                    }
                })
                .collect()
        })
        .collect()
}

/// How many functions deep a function-pointer parameter is followed when
/// handed on from walker to walker.
const MAX_HAND_ON_DEPTH: usize = 4;

/// A function handed on as a value, as a context constant: from its stable
/// key (the same in every program, so stored summaries stay keyed alike),
/// tagged with a high bit no flag or count of a kernel context reaches.
fn fn_code(stable: StableKey) -> i64 {
    ((stable as u64 >> 2) | (1 << 62)) as i64
}

/// Calls through function-pointer parameters and the functions callers hand
/// to them (`madvise_walk_vmas(mm, start, end, behavior, madvise_vma_behavior)`
/// with `error = visit(vma, &prev, start, tmp, arg);` inside).
struct Callbacks {
    param_targets: HashMap<(FnId, CallId), Vec<FnId>, Fast>,
    fn_args: HashMap<(FnId, CallId), Vec<(usize, FnId)>, Fast>,
}

impl Callbacks {
    fn new(
        functions: &[std::sync::Arc<Function>],
        resolved: &[Vec<Option<FnId>>],
        resolve: impl Fn(&Function, &str) -> Option<FnId>,
    ) -> Callbacks {
        let fn_count = functions.len();
        // Per function and function-pointer parameter: the calls through it,
        // its own or those of the walkers it hands the parameter on to.
        let mut sinks: Vec<BTreeMap<usize, Vec<(FnId, CallId)>>> = vec![BTreeMap::new(); fn_count];
        for (fi, f) in functions.iter().enumerate() {
            for (ci, c) in f.calls.iter().enumerate() {
                if let Some(j) = f.params.iter().position(|p| *p == c.callee) {
                    sinks[fi]
                        .entry(j)
                        .or_default()
                        .push((fi as FnId, ci as CallId));
                }
            }
        }
        // Handing on (`walk(mm, .., fn)` with `fn` a parameter), a few levels deep.
        for _ in 0..MAX_HAND_ON_DEPTH {
            let mut changed = false;
            for (fi, f) in functions.iter().enumerate() {
                for (ci, call) in f.calls.iter().enumerate() {
                    let Some(g) = resolved[fi][ci] else { continue };
                    if g as usize == fi {
                        continue;
                    }
                    let handed: Vec<(usize, Vec<(FnId, CallId)>)> = sinks[g as usize]
                        .iter()
                        .filter_map(|(&k, sites)| {
                            let arg = call.args.get(k)?.trim_start_matches('&').trim();
                            let j = f.params.iter().position(|p| p == arg)?;
                            Some((j, sites.clone()))
                        })
                        .collect();
                    for (j, sites) in handed {
                        let mine = sinks[fi].entry(j).or_default();
                        for site in sites {
                            if !mine.contains(&site) {
                                mine.push(site);
                                changed = true;
                            }
                        }
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let mut out = Callbacks {
            param_targets: HashMap::default(),
            fn_args: HashMap::default(),
        };
        for (fi, f) in functions.iter().enumerate() {
            for (ci, call) in f.calls.iter().enumerate() {
                let Some(walker) = resolved[fi][ci] else {
                    continue;
                };
                for (&j, sites) in &sinks[walker as usize] {
                    let Some(name) = call.args.get(j).map(|a| a.trim_start_matches('&').trim())
                    else {
                        continue;
                    };
                    // A local or parameter of the caller is a value handed
                    // through (its constant, if any, comes with the context).
                    if !crate::catalogue::is_identifier(name)
                        || f.var_id(name).is_some()
                        || f.params.iter().any(|p| p == name)
                    {
                        continue;
                    }
                    let Some(t) = resolve(f, name) else {
                        continue;
                    };
                    out.fn_args
                        .entry((fi as FnId, ci as CallId))
                        .or_default()
                        .push((j, t));
                    for &site in sites {
                        let targets = out.param_targets.entry(site).or_default();
                        if !targets.contains(&t) {
                            targets.push(t);
                        }
                    }
                }
            }
        }
        out
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
    let keys: Vec<StableKey> = functions
        .par_iter()
        .map(|f| {
            let file = files.get(f.file as usize).map(String::as_str).unwrap_or("");
            let numbers = if macros.is_empty() {
                Vec::new()
            } else {
                flag_numbers(f, macros)
            };
            hash128(&(
                file,
                f.content_key,
                f.entry_hint.map(|h| h.mode),
                &f.entry_facts,
                numbers,
            ))
        })
        .collect();
    keys.into_iter()
        .map(|key| {
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
            Value::Const(c) | Value::OrBits(_, c) => out.push(*c),
            Value::Cond(e) => expr(e, out),
            Value::Choice(e, a, b) => {
                expr(e, out);
                out.extend([*a, *b]);
            }
            Value::SetBits(c) | Value::ClearBits(c) => out.push(*c),
            Value::BitsOf(_, ops) => out.extend(ops.iter().filter_map(|op| match op {
                crate::symbolic::BitOp::Set(c) | crate::symbolic::BitOp::Clear(c) => Some(*c),
                crate::symbolic::BitOp::Mask => None,
            })),
            Value::Path(_)
            | Value::CallResult(_)
            | Value::MaskBits
            | Value::SetCallBits(_)
            | Value::Unknown => {}
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
            let (crate::symbolic::Bits::Exact(n)
            | crate::symbolic::Bits::AtLeast(n)
            | crate::symbolic::Bits::AtMost(n)) = bits;
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
pub(crate) fn propagate(direct: &[bool], callers: &[Vec<(FnId, CallId)>]) -> Vec<bool> {
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
