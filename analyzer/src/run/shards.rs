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
//! The roots' contexts are worked out once, by the first thread, in the
//! order of the roots (a context set is memoized by function whatever
//! depth asked first: the order is part of the answer), and handed to the
//! others root by root ([`Contexts`]): the other threads analyze the first
//! roots while it works out the rest.
//!
//! The programs hold their memo tables in `Rc`/`RefCell` (one thread each);
//! only contexts, findings, notes and counters cross threads.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use crate::callgraph::CallGraph;
use crate::catalogue::Catalogue;
use crate::finding::Finding;
use crate::ir::Function;
use crate::lockstate::{ConstMap, Held};
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
    let contexts = Contexts::default();
    let events_taken = std::sync::atomic::AtomicBool::new(false);
    let thread = AtomicUsize::new(0);
    // The first thread works out the contexts, then takes roots from the
    // back; the others take them from the front as their contexts come.
    let work = || {
        let produces = thread.fetch_add(1, Ordering::Relaxed) == 0;
        share(inputs, &graph, &next, &contexts, produces, &events_taken)
    };
    // On the lint's pool, the threads that parsed the round analyze it;
    // elsewhere (a caller's own thread) threads of their own. More shares
    // than the pool has threads wait for a free one: the producer is the
    // first share to start, so a share waiting for contexts never holds
    // back the thread that works them out. (So no share may wait on rayon
    // work of its own: the waiting thread could steal a share that blocks
    // on contexts its own stack is to produce.)
    if lint_pool().is_some_and(|p| p.current_thread_index().is_some()) {
        let shares = Mutex::new(Vec::new());
        rayon::scope(|s| {
            for _ in 0..threads.max(1) {
                s.spawn(|_| {
                    let share = work();
                    shares.lock().unwrap_or_else(|p| p.into_inner()).push(share);
                });
            }
        });
        let shares = shares.into_inner().unwrap_or_else(|p| p.into_inner());
        return assemble(inputs.cat, shares);
    }
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

/// The pool a lint runs on ([`super::lint_set`]): its threads have the
/// analysis's stack ([`crate::limits::ANALYSIS_STACK`]), so a round is
/// analyzed on the threads that parsed it, which reuse the memory their
/// parses freed (threads of their own start with none: on 6.12 mm/, 2
/// cores, ~1.5 MiB more peak RSS and ~500 more page faults). None if it
/// cannot be built.
pub(super) fn lint_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .stack_size(crate::limits::ANALYSIS_STACK)
            .thread_name(|i| format!("mmstall-{i}"))
            .build()
            .ok()
    })
    .as_ref()
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

/// Every root's contexts, in the order of the roots, as the thread that
/// works them out gets them: `done` roots have theirs.
#[derive(Default)]
struct Contexts {
    of_root: OnceLock<Vec<OnceLock<Vec<ConstMap>>>>,
    done: Mutex<usize>,
    more: Condvar,
}

impl Contexts {
    /// Works out every root's contexts in order, handing each on.
    fn produce(&self, program: &Program, roots: &[FnId]) {
        /// However the loop ends (a panic too), no thread waits for more.
        struct Finished<'a>(&'a Contexts);
        impl Drop for Finished<'_> {
            fn drop(&mut self) {
                self.0.set_done(usize::MAX);
            }
        }
        let _finished = Finished(self);
        let slots = self
            .of_root
            .get_or_init(|| roots.iter().map(|_| OnceLock::new()).collect());
        for (i, envs) in rules::root_contexts(program, roots).enumerate() {
            if let Some(slot) = slots.get(i) {
                let _ = slot.set(envs.as_ref().clone());
            }
            self.set_done(i + 1);
        }
    }

    fn set_done(&self, n: usize) {
        *self.done.lock().unwrap_or_else(|p| p.into_inner()) = n;
        self.more.notify_all();
    }

    /// Root `i`'s contexts, waiting until they are worked out (None if
    /// they never are).
    fn get(&self, i: usize) -> Option<&[ConstMap]> {
        let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        while *done <= i {
            done = self.more.wait(done).unwrap_or_else(|p| p.into_inner());
        }
        drop(done);
        self.of_root.get()?.get(i)?.get().map(Vec::as_slice)
    }
}

/// Takes roots off the shared ends until none is left: from the back for
/// the thread that `produces` the contexts (after it has), else the front.
fn share(
    inputs: &Inputs,
    graph: &Arc<CallGraph>,
    next: &Ends,
    contexts: &Contexts,
    produces: bool,
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
    if produces {
        contexts.produce(&program, &roots);
    }
    let mut out = Share::default();
    while let Some(i) = next.take(roots.len(), produces) {
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
