//! A round's analysis on every core: each analysis thread builds its own
//! [`Program`] over the round's functions (one [`CallGraph`] for all) and
//! takes roots off the shared list (from either end, see [`Ends`]); the
//! programs share the run's [`SummaryStore`], so a summary one thread
//! computed is reused by the other (with its notes) instead of computed
//! twice, as between rounds. The results are put together in the
//! order of [`Program::roots`], so the findings do not depend on which
//! thread analyzed what: a summary is a function of the function, its
//! context and what it reaches (see [`crate::summary`]), whoever asked first.
//!
//! The programs hold their memo tables in `Rc`/`RefCell` (one thread each);
//! only findings, notes and counters cross threads.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::callgraph::CallGraph;
use crate::catalogue::Catalogue;
use crate::finding::Finding;
use crate::ir::Function;
use crate::lockstate::Held;
use crate::macro_values::MacroTable;
use crate::rules::{self, Designated, RootFindings};
use crate::source::Skipped;
use crate::summary::{FnId, Program};
use crate::summary_store::SummaryStore;

/// What the round's analysis threads built a program from.
pub(super) struct Inputs<'a> {
    pub cat: &'a Catalogue,
    pub files: Arc<Vec<String>>,
    pub functions: Vec<Arc<Function>>,
    pub store: &'a SummaryStore,
    pub macros: &'a MacroTable,
    pub rmap_callbacks: &'a [String],
    /// Cycle-group figures are gathered for `MMSTALL_TRACE` only.
    pub trace: bool,
}

/// The round's findings and cut notes, the callees reached under a write
/// hold without a definition, and figures for traces.
pub(super) struct ShardedRun {
    pub findings: Vec<Finding>,
    pub cut_notes: Vec<Skipped>,
    pub missing: BTreeSet<String>,
    pub function_count: usize,
    pub depth_cuts: usize,
    pub threads: usize,
    /// Per thread, when tracing: (cycle groups, largest, functions in
    /// them), analyses inside cycles, deepest entry nesting.
    pub cycle_figures: Vec<((usize, usize, usize), usize, usize)>,
}

/// One thread's share.
#[derive(Default)]
struct Share {
    roots: Vec<(usize, RootFindings, Option<Skipped>)>,
    under_write: HashSet<FnId>,
    under_lock: HashSet<FnId>,
    missing: BTreeSet<String>,
    events: Option<Vec<Finding>>,
    function_count: usize,
    depth_cuts: usize,
    cycle_figures: ((usize, usize, usize), usize, usize),
}

/// Analyzes the round on up to `threads` threads (at least one: this one
/// if no thread can be made).
pub(super) fn run(inputs: &Inputs, threads: usize) -> ShardedRun {
    // One call graph for every thread (built on the pool's threads).
    let graph = Arc::new(CallGraph::new(
        &inputs.files,
        &inputs.functions,
        inputs.macros,
    ));
    let next = Ends::default();
    let events_taken = std::sync::atomic::AtomicBool::new(false);
    let thread = AtomicUsize::new(0);
    let work = || {
        let from_back = thread.fetch_add(1, Ordering::Relaxed) % 2 == 1;
        share(inputs, &graph, &next, from_back, &events_taken)
    };
    let shares: Vec<Share> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.max(1))
            .filter_map(|i| {
                std::thread::Builder::new()
                    .name(format!("mmstall-analysis-{i}"))
                    .stack_size(crate::limits::ANALYSIS_STACK)
                    .spawn_scoped(scope, work)
                    .ok()
            })
            .collect();
        let mut shares: Vec<Share> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect();
        if shares.is_empty() {
            shares.push(work());
        }
        shares
    });
    assemble(inputs.cat, shares)
}

/// The roots not yet taken: `front..len - back`. Half the threads take
/// from the front, half from the back: neighbouring roots (same file, same
/// callees) mostly go to one thread, so fewer summaries are computed twice
/// by two threads at once.
#[derive(Default)]
struct Ends(std::sync::Mutex<(usize, usize)>);

impl Ends {
    fn take(&self, len: usize, from_back: bool) -> Option<usize> {
        let mut ends = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (front, back) = &mut *ends;
        if *front + *back >= len {
            return None;
        }
        if from_back {
            *back += 1;
            Some(len - *back)
        } else {
            *front += 1;
            Some(*front - 1)
        }
    }
}

/// Takes roots off the shared ends until none is left.
fn share(
    inputs: &Inputs,
    graph: &Arc<CallGraph>,
    next: &Ends,
    from_back: bool,
    events_taken: &std::sync::atomic::AtomicBool,
) -> Share {
    let program = Program::new(
        inputs.cat,
        inputs.files.clone(),
        inputs.functions.clone(),
        graph.clone(),
        inputs.store,
        inputs.macros,
    );
    let roots = program.roots();
    let contexts = rules::root_contexts(&program, &roots);
    let mut out = Share::default();
    while let Some(i) = next.take(roots.len(), from_back) {
        let (Some(&root), Some(envs)) = (roots.get(i), contexts.get(i)) else {
            break;
        };
        let found = rules::root_findings(&program, root, envs);
        let note = super::cut_note(&program, root, found.cuts);
        out.roots.push((i, found, note));
    }
    // The event rules look at the program lexically: one thread runs them.
    if !events_taken.swap(true, Ordering::Relaxed) {
        out.events = Some(rules::event_findings(
            &program,
            &Designated {
                rmap_callbacks: inputs.rmap_callbacks,
            },
        ));
    }
    out.under_write = program.called_under_write.take().into_iter().collect();
    out.under_lock = program.called_under_lock.take().into_iter().collect();
    out.missing = program.unresolved_under_write.take();
    out.function_count = program.functions.len();
    out.depth_cuts = program.depth_cuts.get();
    if inputs.trace {
        out.cycle_figures = (
            program.cycle_group_sizes(),
            program.cycle_analyses.get(),
            program.max_entry_depth.get(),
        );
    }
    out
}

fn assemble(cat: &Catalogue, shares: Vec<Share>) -> ShardedRun {
    let mut under_write = HashSet::new();
    let mut under_lock = HashSet::new();
    let mut missing = BTreeSet::new();
    let mut events = Vec::new();
    let mut roots = Vec::new();
    let mut run = ShardedRun {
        findings: Vec::new(),
        cut_notes: Vec::new(),
        missing: BTreeSet::new(),
        function_count: 0,
        depth_cuts: 0,
        threads: shares.len(),
        cycle_figures: Vec::new(),
    };
    for s in shares {
        under_write.extend(s.under_write);
        under_lock.extend(s.under_lock);
        missing.extend(s.missing);
        events.extend(s.events.into_iter().flatten());
        roots.extend(s.roots);
        run.function_count = run.function_count.max(s.function_count);
        run.depth_cuts += s.depth_cuts;
        if s.cycle_figures != Default::default() {
            run.cycle_figures.push(s.cycle_figures);
        }
    }
    roots.sort_by_key(|(i, _, _)| *i);
    let mut per_root = Vec::with_capacity(roots.len());
    for (_, found, note) in roots {
        per_root.push(found);
        run.cut_notes.extend(note);
    }
    run.findings = rules::assemble(
        cat,
        per_root,
        &|root, held| match held {
            Held::Write => under_write.contains(&root),
            _ => under_lock.contains(&root),
        },
        events,
    );
    run.missing = missing;
    run
}
